"""Command line: argv -> Settings -> run -> report -> exit code.

Exit codes: 0 no error left (warnings do not count unless past --max-warnings; with --diff:
nothing to change), 1 errors left (with --diff: something to change), 2 usage, configuration or
internal error (one line on stderr; the traceback only with --verbose).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaihm_lint import baseline, rule_selectors
from qaihm_lint.arguments import PROG, UsageError, build_parser, settings_from_args
from qaihm_lint.changes import (
    changed_files,
    restrict_to_changed,
    why_nothing_to_check,
    with_dependants,
)
from qaihm_lint.config import (
    ConfigError,
    Settings,
)
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine import (
    FixOutcome,
    Plan,
    findings_gone,
    lint,
    lint_with_fixes,
    make_plan,
)
from qaihm_lint.fixers.apply import (
    WriteError,
    remove_stale_temporaries,
    write_atomic,
)
from qaihm_lint.report import DeepCase
from qaihm_lint.rule_docs import explain, list_rules, list_rules_json
from qaihm_lint.run_report import print_diff, report
from qaihm_lint.stdin_run import run_stdin, stdin_target
from qaihm_lint.workspace import (
    Workspace,
    WorkspaceError,
    discover,
)

if TYPE_CHECKING:
    from qaihm_lint.deep.shard import Shard


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a CI cancel), raised in the main thread so that cleanup runs: deep
    mode stops its workers and removes their folders, like on Ctrl-C."""

    signal_name = "SIGTERM"


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _write_fixes(
    workspace: Workspace, plan: Plan, outcome: FixOutcome
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Write the fixed files; the findings left and the findings fixed."""
    errors = []
    for path, data in sorted(outcome.changed.items()):
        try:
            write_atomic(path, data, expected=outcome.originals.get(path))
        except WriteError as exc:
            errors.append(str(exc))
    for folder in workspace.checked():
        remove_stale_temporaries(folder.path)
    diagnostics, fixed = outcome.result.diagnostics, outcome.fixed
    for error in errors:
        print(f"{PROG}: {error}", file=sys.stderr)
    if errors:
        # Some fixes never reached the disk: report what the files really hold now.
        remaining = lint(workspace.reopened({}), plan).diagnostics
        fixed = findings_gone(outcome.initial, remaining)
        diagnostics = remaining
    return diagnostics, fixed


def _given(paths: Sequence[Path]) -> Callable[[Path], bool]:
    """Whether a file is one of the PATHs, or under one of the folders among them: what a run
    may write (pre-commit passes the files a commit changed; a changed global_requirements.txt
    re-checks every model, but none of them is the commit's to rewrite)."""
    # Folders resolved as discovery resolves them; a finding's own path is not resolved, so
    # that a symlinked file is still the fixers' to refuse (and say so).
    files = {p for path in paths for p in (path.absolute(), path.resolve()) if not path.is_dir()}
    folders = [path.resolve() for path in paths if path.is_dir()]

    def given(path: Path) -> bool:
        path = path.absolute()
        return path in files or any(path == f or f in path.parents for f in folders)

    return given


def _fixable(
    paths: Sequence[Path], settings: Settings
) -> Callable[[list[Diagnostic]], list[Diagnostic]]:
    """Which findings ``--fix`` may repair: those in the files given (``_given``), and none
    that the baseline holds: those were accepted, and stay as they are."""
    given = _given(paths)

    def eligible(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        chosen = [d for d in diagnostics if given(d.fix_path)]
        if settings.baseline is not None:
            new = {id(d) for d in baseline.filter_new(chosen, settings.baseline)}
            chosen = [d for d in chosen if id(d) in new]
        return chosen

    return eligible


def _add_noqa(workspace: Workspace, plan: Plan, settings: Settings, paths: Sequence[Path]) -> int:
    """``--add-noqa``: suppress every finding left in the files given (with --baseline, every
    new one)."""
    from qaihm_lint.add_noqa import add_suppressions
    from qaihm_lint.rules.meta import UnusedNoqa
    from qaihm_lint.suppressions import IGNORE_COMMENT

    given = _given(paths)
    diagnostics = [d for d in lint(workspace, plan).diagnostics if given(d.path)]
    if settings.baseline is not None:
        diagnostics = baseline.filter_new(diagnostics, settings.baseline)
    outcome = add_suppressions(d for d in diagnostics if d.code != UnusedNoqa.code)
    errors = []
    for path, data in sorted(outcome.changed.items()):
        try:
            write_atomic(path, data)
        except WriteError as exc:
            errors.append(str(exc))
    left = [*outcome.left, *errors]
    unused = sum(1 for d in diagnostics if d.code == UnusedNoqa.code)
    if unused:
        left.append(f"{unused} unused suppression(s) (QAI001) left: `--fix` removes them")
    for note in left:
        print(f"{PROG}: {note}", file=sys.stderr)
    files = len(outcome.changed)
    print(
        f"Added {outcome.added} suppression{'s' * (outcome.added != 1)} "
        f"(`{IGNORE_COMMENT}[...]`) in {files} file{'s' * (files != 1)}.",
        file=sys.stderr,
    )
    return 1 if left and not settings.exit_zero else 0


def _run_deep(
    workspace: Workspace, settings: Settings, args: argparse.Namespace
) -> tuple[list[Diagnostic], list[DeepCase]]:
    # Imported only here: the deep machinery (and its optional dependencies) stays out of
    # every static run.
    from qaihm_lint import deep

    options: dict[str, Any] = {
        "targets": settings.deep.targets,
        "compile": not args.no_compile,
        "use_cache": settings.use_cache,
        "network": bool(getattr(args, "deep_network", False)),
    }
    if settings.deep.timeout is not None:
        options["timeout"] = settings.deep.timeout
    if args.stages:
        options["stages"] = frozenset(args.stages)
    if args.python:
        options["python"] = args.python
    else:
        options["environments"] = True
        options["env_dir"] = args.env_dir
    if args.shard:
        options["refresh_costs"] = False
    if settings.jobs:
        options["jobs"] = settings.jobs
    try:
        result = deep.run_deep_detailed(workspace.folders, deep.DeepOptions(**options))
    except deep.DeepError as exc:
        raise UsageError(str(exc)) from exc
    return result.diagnostics, result.junit_cases()


def _parse_shard(text: str) -> Shard:
    from qaihm_lint.deep.shard import ShardError, parse_shard

    try:
        return parse_shard(text)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc


def _restrict_to_shard(workspace: Workspace, shard: Shard, use_cache: bool) -> Workspace:
    from qaihm_lint.deep.shard import shard_folders

    folders = shard_folders(workspace.folders, shard, use_cache)
    # Shared code is checked once, by the first shard, so merged reports hold it once.
    shared = workspace.shared if shard.index == 1 else []
    return Workspace(workspace.packages, folders, [], shared)


def _merge_reports(paths: Sequence[Path], settings: Settings) -> int:
    from qaihm_lint.deep.shard import ShardError, render_merged

    try:
        text, findings = render_merged(paths, settings.output_format)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(text)
    sys.stdout.flush()
    return 1 if findings and not settings.exit_zero else 0


def _say_framework(workspace: Workspace) -> None:
    """--verbose: what the rules read from each package's own framework, and what fell back to
    the built-in defaults (stderr, so machine formats stay parsable)."""
    from qaihm_lint.rules.framework import framework_facts

    for package in workspace.packages:
        print(f"{PROG}: the framework of {package.root}:", file=sys.stderr)
        for fact in framework_facts(package):
            print(f"  {fact}", file=sys.stderr)


def run(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["server"]:  # the language server (qaihm_lint/server/, the [server] extra)
        from qaihm_lint.server import serve

        return serve(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_rules:
        if args.output_format not in (None, "full", "concise", "json"):
            raise UsageError(f"--list-rules prints text or json, not {args.output_format}")
        sys.stdout.write(list_rules_json() if args.output_format == "json" else list_rules())
        return 0
    if args.explain:
        sys.stdout.write(explain(args.explain))
        return 0
    settings = settings_from_args(args)
    if args.merge_reports:
        return _merge_reports(args.paths, settings)
    shard = _parse_shard(args.shard) if args.shard else None
    plan = make_plan(settings)
    stdin_path = stdin_target(args)
    if stdin_path is not None:
        return run_stdin(stdin_path, plan, sys.stdin.buffer.read())
    # Without PATHs, the current directory, as ruff does: from the repository root,
    # qai_hub_models/ or models/ that is every model folder; from inside a model folder, that
    # folder; from anywhere else in the package (utils/, datasets/), nothing.
    paths = list(args.paths) or [Path(".")]
    workspace = discover(paths, settings.exclude)
    if workspace.skipped:
        workspace = with_dependants(workspace, settings.exclude)
    if args.changed_since is not None:
        workspace = restrict_to_changed(workspace, changed_files(args.changed_since, Path.cwd()))
    nothing_checked = ""
    if not workspace.folders:
        reason = why_nothing_to_check(workspace, paths, args.changed_since)
        nothing_checked = "" if workspace.shared else reason
        if nothing_checked and settings.output_format not in ("full", "concise"):
            # The human formats say it in their summary; keep machine output parsable.
            print(f"{PROG}: warning: no model folders to check: {nothing_checked}", file=sys.stderr)
    if shard is not None:
        workspace = _restrict_to_shard(workspace, shard, settings.use_cache)
    if settings.verbose:
        _say_framework(workspace)

    fixed: list[Diagnostic] = []
    if args.add_noqa:
        return _add_noqa(workspace, plan, settings, paths)
    if settings.fix or settings.diff:
        outcome = lint_with_fixes(workspace, plan, _fixable(paths, settings))
        for note in outcome.skipped:
            print(f"{PROG}: {note}", file=sys.stderr)
        if settings.diff:
            # The status says whether there is something to change: findings without a fix
            # are not shown by --diff, so they do not count.
            print_diff(outcome, settings)
            return 1 if outcome.changed and not settings.exit_zero else 0
        diagnostics, fixed = _write_fixes(workspace, plan, outcome)
    else:
        diagnostics = lint(workspace, plan).diagnostics

    deep_cases: list[DeepCase] = []
    if args.deep:
        deep_findings, deep_cases = _run_deep(workspace, settings, args)
        deep_findings = [d for d in deep_findings if d.code in plan.enabled]
        diagnostics = sorted([*diagnostics, *deep_findings], key=Diagnostic.sort_key)

    if settings.write_baseline is not None:
        count = baseline.write(settings.write_baseline, diagnostics)
        print(
            f"Wrote {count} finding{'s' * (count != 1)} to {settings.write_baseline}.",
            file=sys.stderr,
        )
        return 0
    return report(
        workspace,
        plan,
        diagnostics,
        fixed=fixed,
        nothing_checked=nothing_checked,
        deep_cases=deep_cases,
    )


def main(argv: Sequence[str] | None = None) -> int:
    verbose = "--verbose" in (sys.argv[1:] if argv is None else argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv, verbose)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None, verbose: bool) -> int:
    try:
        return run(argv)
    except (
        UsageError,
        ConfigError,
        WorkspaceError,
        rule_selectors.UnknownSelector,
        baseline.BaselineError,
    ) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # Deep mode says what it stopped and cleaned up (DeepCancelled.summary).
        summary = getattr(exc, "summary", "")
        detail = f": {summary}" if summary else ""
        if getattr(exc, "signal_name", "") == "SIGTERM":
            print(f"{PROG}: terminated (SIGTERM){detail}", file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"{PROG}: interrupted{detail}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the exit-time flush
        return 1
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} (run with --verbose for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return 2
