"""``--stdin-filename PATH`` (and ``-`` as the PATH argument): lint the text on standard input as
if it were the file PATH, in PATH's model folder, for editors and tools that pipe a buffer.

Only PATH's findings are reported: the rest of the folder is read from disk as context. With
``--fix`` the fixed text goes to standard output (the input unchanged when nothing is fixed) and
the findings left to standard error, as ruff does; ``--diff`` prints the buffer's diff.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qaihm_lint import baseline
from qaihm_lint.arguments import PROG, UsageError
from qaihm_lint.buffers import buffer_workspace
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine import Plan, lint, lint_with_fixes
from qaihm_lint.run_report import print_diff, report

STDIN = "-"

# Flags that act on a tree on disk, or run models: nothing a piped buffer can stand for.
_TREE_ONLY = {
    "deep": "--deep",
    "add_noqa": "--add-noqa",
    "changed_since": "--changed-since",
    "shard": "--shard",
    "merge_reports": "--merge-reports",
    "write_baseline": "--write-baseline",
}


def stdin_target(args: argparse.Namespace) -> Path | None:
    """The file standard input stands for, or None when the run reads no standard input."""
    dashes = [p for p in args.paths if str(p) == STDIN]
    if args.stdin_filename is None:
        if dashes:
            raise UsageError(
                "`-` reads the text on standard input: add --stdin-filename PATH, the file it "
                "stands for (its model folder is what the rules check it against)"
            )
        return None
    others = [p for p in args.paths if str(p) != STDIN]
    if others:
        raise UsageError(
            f"--stdin-filename lints standard input only: drop the PATH argument {others[0]}"
        )
    for attribute, flag in _TREE_ONLY.items():
        if getattr(args, attribute, None):
            raise UsageError(f"{flag} does not work with --stdin-filename")
    path: Path = args.stdin_filename
    if str(path) == STDIN:
        raise UsageError("--stdin-filename needs the path of the file the text stands for")
    return path


def run_stdin(path: Path, plan: Plan, data: bytes) -> int:
    """Lint (or fix) ``data`` as the file ``path``; the exit status."""
    settings = plan.settings
    buffer = buffer_workspace(path, data, settings.exclude)
    workspace = buffer.workspace
    nothing_checked = ""
    if not workspace.checked():
        nothing_checked = f"{path} is in no model folder and no shared folder"
        if settings.output_format not in ("full", "concise"):
            print(f"{PROG}: warning: nothing to check: {nothing_checked}", file=sys.stderr)

    def ours(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        return [d for d in diagnostics if d.path == buffer.path]

    if not (settings.fix or settings.diff):
        found = ours(lint(workspace, plan).diagnostics)
        return report(
            workspace, plan, found, nothing_checked=nothing_checked, buffers=buffer.overlay
        )

    def eligible(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        chosen = [d for d in diagnostics if d.fix_path == buffer.path]
        if settings.baseline is not None:
            chosen = baseline.filter_new(chosen, settings.baseline)
        return chosen

    outcome = lint_with_fixes(workspace, plan, eligible, buffers=buffer.overlay)
    for note in outcome.skipped:
        print(f"{PROG}: {note}", file=sys.stderr)
    if settings.diff:
        print_diff(outcome, settings)
        return 1 if outcome.changed and not settings.exit_zero else 0
    fixed_text = outcome.changed.get(buffer.path, data)
    sys.stdout.buffer.write(fixed_text)
    sys.stdout.buffer.flush()
    return report(
        workspace,
        plan,
        ours(outcome.result.diagnostics),
        fixed=ours(outcome.fixed),
        nothing_checked=nothing_checked,
        buffers={buffer.path: fixed_text},
        stream=sys.stderr,
    )
