"""``qaihm-lint server``: a language server over stdio (pygls + lsprotocol, the [server] extra).

The parts: ``session`` (buffers, folders, linting against the buffers; no protocol),
``convert`` (positions, diagnostics and edits in the protocol's terms), ``actions`` (quick
fixes, fix-all, suppression, hover) and ``app`` (the protocol handlers, debouncing,
publishing). It sits on top, like the CLI: nothing below imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from qaihm_lint.arguments import PROG, UsageError

EXTRA_MISSING = (
    f"`{PROG} server` needs the [server] extra (pygls, lsprotocol): "
    "pip install 'qaihm-lint[server]'"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {PROG} server --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} server",
        description="Run the language server over stdio: findings of the open model folders "
        "as you type, their fixes as code actions, the rules' explanations on hover. Settings "
        "come from [tool.qaihm-lint] as on the command line; --deep never runs. Needs the "
        "[server] extra.",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="show only findings not in this baseline, as --baseline does on the command line "
        "(also the initializationOptions key 'baseline')",
    )
    return parser


def serve(argv: Sequence[str]) -> int:
    """Parse the server's arguments and serve until the client says exit."""
    args = build_parser().parse_args(list(argv))
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as exc:
        raise UsageError(EXTRA_MISSING) from exc
    from qaihm_lint.server.app import build_server

    # The protocol owns stdout: anything else printed by accident goes to stderr instead of
    # corrupting a message.
    protocol_out, sys.stdout = sys.stdout, sys.stderr
    try:
        build_server(args.baseline).start_io(sys.stdin.buffer, protocol_out.buffer)
    finally:
        sys.stdout = protocol_out
    return 0
