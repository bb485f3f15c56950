"""The command line's arguments: the parser, and the Settings they make with the config file.

Every malformed argument is a UsageError carrying one line (with a did-you-mean where one fits),
which the CLI prints as ``qaihm-lint: error: ...`` with exit code 2.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from qaihm_lint import __version__, rule_selectors
from qaihm_lint.config import (
    OUTPUT_FORMATS,
    ConfigError,
    DeepSettings,
    Settings,
    load_settings,
    max_warnings,
)

PROG = "qaihm-lint"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of ours, instead of argparse's usage block.
        unrecognized = "unrecognized arguments: "
        if message.startswith(unrecognized):
            # argparse suggests nothing before Python 3.14: `--fxi` should point at `--fix`.
            options = [o for action in self._actions for o in action.option_strings]
            hints = []
            for word in message[len(unrecognized) :].split():
                if word.startswith("--"):
                    near = difflib.get_close_matches(word.split("=")[0], options, n=1)
                    if near:
                        hints.append(f"{word}: did you mean {near[0]}?")
            if hints:
                message += f" ({'; '.join(hints)})"
        raise UsageError(f"{message} (see {PROG} --help)")


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _seconds(value: str) -> float:
    """A positive, finite number of seconds (``nan`` and ``inf`` are floats, not limits)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lint and fix the model folders of Qualcomm AI Hub Models.",
        epilog="Exit status: 0 no errors (warnings pass unless past --max-warnings), 1 errors "
        "left (--diff: something to change), 2 usage or internal error. `qaihm-lint server` "
        "starts the language server for editors (the [server] extra; `qaihm-lint server "
        "--help`); a folder named server is `./server`.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="repository, qai_hub_models/, models/, model folders or files (default: the "
        "current directory: every model from the repository root, qai_hub_models/ or models/; "
        "the model folder you are in)",
    )
    fixing = parser.add_argument_group("fixing")
    fixing.add_argument("--fix", action="store_true", help="apply safe fixes")
    fixing.add_argument(
        "--unsafe-fixes", action="store_true", help="apply unsafe fixes too (implies --fix)"
    )
    fixing.add_argument(
        "--diff", action="store_true", help="print the fixes as a unified diff and write nothing"
    )
    fixing.add_argument(
        "--show-fixes", action="store_true", help="list the findings --fix fixed, per file"
    )
    fixing.add_argument(
        "--add-noqa",
        action="store_true",
        help="add a `# qaihm-lint: ignore[CODE]` comment on the line of every finding left "
        "(adopting the linter on a legacy tree)",
    )
    selection = parser.add_argument_group("rule selection")
    # Repeated flags add up (`--select QAI1 --select QAI3`), as comma-separated lists do.
    selection.add_argument(
        "--select",
        type=_codes,
        action="extend",
        metavar="CODES",
        help="comma-separated codes, prefixes (QAI3 = requirements rules) or slugs",
    )
    selection.add_argument(
        "--extend-select",
        type=_codes,
        action="extend",
        metavar="CODES",
        default=[],
        help="codes, prefixes or slugs to enable on top of the selection (the config's or "
        "--select's)",
    )
    selection.add_argument(
        "--ignore",
        type=_codes,
        action="extend",
        metavar="CODES",
        default=[],
        help="codes, prefixes or slugs to leave out",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--output-format",
        default=None,
        metavar="FORMAT",
        help=f"one of {', '.join(OUTPUT_FORMATS)} (default: full)",
    )
    output.add_argument("--statistics", action="store_true", help="print counts per code")
    output.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    output.add_argument(
        "--max-warnings",
        type=int,
        metavar="N",
        help="exit 1 when there are more than N warnings (default: warnings never fail a run)",
    )
    output.add_argument(
        "--verbose",
        action="store_true",
        help="say what each rule expectation was read from, and show tracebacks of internal errors",
    )
    output.add_argument(
        "--merge-reports",
        action="store_true",
        help="merge the JSON (or JUnit) reports given as PATHs, e.g. of --shard runs, and exit",
    )
    running = parser.add_argument_group("running")
    running.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: one per core; 1 runs in-process)",
    )
    running.add_argument(
        "--no-cache", action="store_true", help="neither read nor write .qaihm_lint_cache/"
    )
    running.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default: nearest pyproject.toml with [tool.qaihm-lint])",
    )
    running.add_argument(
        "--changed-since",
        metavar="REF",
        help="only model folders a pull request from REF changes: since the merge base of REF "
        "and HEAD, as `git diff REF...HEAD` (and the models that depend on changed shared "
        "code); `pre-commit` for pre-commit's --from-ref",
    )
    running.add_argument(
        "--stdin-filename",
        type=Path,
        metavar="PATH",
        help="lint the text on standard input as if it were the file PATH, in PATH's model "
        "folder (for editors and tools that pipe a buffer); with --fix the fixed text goes to "
        "standard output and the findings left to standard error. `-` as the PATH argument "
        "also reads standard input",
    )
    running.add_argument(
        "--shard",
        metavar="K/N",
        help="check only the K-th of N parts of the model folders (for a CI matrix; balanced "
        "by the time each model took in the last deep run)",
    )
    adoption = parser.add_argument_group("adopting on a legacy tree")
    adoption.add_argument(
        "--baseline", type=Path, metavar="FILE", help="report only findings not recorded in FILE"
    )
    adoption.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="record every current finding in FILE and exit 0",
    )
    deep = parser.add_argument_group("deep mode (needs the [deep] extra)")
    deep.add_argument(
        "--deep",
        action="store_true",
        help="load, trace, export and compile each model in a subprocess",
    )
    deep.add_argument(
        "--targets",
        type=_codes,
        metavar="DEVICES",
        help="AI Hub devices or chipset:… attributes to compile for",
    )
    deep.add_argument(
        "--stages",
        type=_codes,
        metavar="STAGES",
        help="comma-separated deep stages: load,trace,onnx,compile",
    )
    deep.add_argument("--timeout", type=_seconds, metavar="S", help="per-stage limit in seconds")
    deep.add_argument(
        "--deep-network",
        action="store_true",
        help="let deep workers reach the network (to download assets); off by default",
    )
    deep.add_argument(
        "--no-compile", action="store_true", help="stop before the AI Hub compile stage"
    )
    deep.add_argument(
        "--python",
        metavar="PATH",
        help="run every model in this interpreter's environment instead of building the "
        "environments upstream's CI would",
    )
    deep.add_argument(
        "--env-dir",
        type=Path,
        metavar="DIR",
        help="where built deep-mode environments are kept (default: the user cache folder)",
    )
    info = parser.add_argument_group("information")
    info.add_argument("--list-rules", action="store_true", help="list every rule and exit")
    info.add_argument("--explain", metavar="CODE", help="explain a rule and exit")
    info.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def use_color(tty: bool, environ: Mapping[str, str]) -> bool:
    """Colour on a terminal, as ruff and most tools decide it: a non-empty NO_COLOR turns it off
    (https://no-color.org), then a non-empty FORCE_COLOR or CLICOLOR_FORCE other than "0" turns
    it on even when piped (CI logs render it), then TERM=dumb turns it off."""
    if environ.get("NO_COLOR"):
        return False
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        if environ.get(name, "0") not in ("", "0"):
            return True
    return tty and environ.get("TERM") != "dumb"


def settings_from_args(args: argparse.Namespace) -> Settings:
    # The configuration of the file standard input stands for, as of any PATH: the nearest.
    given = [p for p in args.paths if str(p) != "-"]
    if args.stdin_filename is not None:
        given = [args.stdin_filename.parent]
    start = given[0] if given else Path.cwd()
    if args.config is not None and not args.config.is_file():
        raise ConfigError(f"{args.config}: config file not found")
    settings = load_settings(args.config, start if start.exists() else Path.cwd())
    for flag, selectors in (
        ("--select", args.select or ()),
        ("--extend-select", args.extend_select),
        ("--ignore", args.ignore),
    ):
        try:
            rule_selectors.validate(selectors)
        except rule_selectors.UnknownSelector as exc:
            raise UsageError(f"{flag}: {exc}") from exc
    if args.add_noqa:
        clash = [
            flag
            for flag, given in (
                ("--fix", args.fix),
                ("--unsafe-fixes", args.unsafe_fixes),
                ("--diff", args.diff),
                ("--deep", args.deep),
                ("--write-baseline", args.write_baseline is not None),
            )
            if given
        ]
        if clash:
            raise UsageError(f"--add-noqa cannot be combined with {', '.join(clash)}")
    output_format = args.output_format or "full"
    if output_format not in OUTPUT_FORMATS:
        raise UsageError(
            f"unknown output format {output_format!r} (choose from {', '.join(OUTPUT_FORMATS)})"
        )
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    limit = settings.max_warnings
    if args.max_warnings is not None:
        try:
            limit = max_warnings(args.max_warnings, "--max-warnings")
        except ConfigError as exc:
            raise UsageError(str(exc)) from exc
    deep = settings.deep
    if args.targets:
        deep = DeepSettings(tuple(args.targets), deep.timeout)
    if args.timeout is not None:
        deep = DeepSettings(deep.targets, args.timeout)
    color = output_format == "full" and use_color(sys.stdout.isatty(), os.environ)
    return settings.with_overrides(
        select=tuple(args.select) if args.select is not None else settings.select,
        # As in ruff, a --select on the command line starts the selection afresh: the config's
        # extend-select was an extension of the config's select.
        extend_select=(
            (*settings.extend_select, *args.extend_select)
            if args.select is None
            else tuple(args.extend_select)
        ),
        show_fixes=args.show_fixes,
        ignore=(*settings.ignore, *args.ignore),
        fix=args.fix or args.unsafe_fixes,
        unsafe_fixes=args.unsafe_fixes,
        diff=args.diff,
        output_format=output_format,
        statistics=args.statistics,
        exit_zero=args.exit_zero,
        max_warnings=limit,
        jobs=args.jobs if args.jobs is not None else settings.jobs,
        use_cache=not args.no_cache,
        baseline=args.baseline,
        write_baseline=args.write_baseline,
        verbose=args.verbose,
        color=color,
        deep=deep,
    )
