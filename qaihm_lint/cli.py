"""Command line: argv -> Settings -> run -> report -> exit code.

Exit codes: 0 no error left (warnings do not count unless past --max-warnings; with --diff:
nothing to change), 1 errors left (with --diff: something to change), 2 usage, configuration or
internal error (one line on stderr; the traceback only with --verbose).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from qaihm_lint import __version__, baseline, rule_selectors
from qaihm_lint.changes import (
    changed_files,
    restrict_to_changed,
    why_nothing_to_check,
    with_dependants,
)
from qaihm_lint.config import (
    OUTPUT_FORMATS,
    ConfigError,
    DeepSettings,
    Settings,
    load_settings,
    max_warnings,
)
from qaihm_lint.diagnostics import Applicability, Diagnostic, Severity
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
    unified_diff,
    write_atomic,
)
from qaihm_lint.report import DeepCase, ReportContext, renderer, statistics_table, summary
from qaihm_lint.rule_docs import explain, list_rules
from qaihm_lint.rule_docs import rules_markdown as rules_markdown  # docs/rules.md's recipe
from qaihm_lint.workspace import (
    Workspace,
    WorkspaceError,
    discover,
)

PROG = "qaihm-lint"


class UsageError(Exception):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a CI cancel), raised in the main thread so that cleanup runs: deep
    mode stops its workers and removes their folders, like on Ctrl-C."""

    signal_name = "SIGTERM"


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lint and fix the model folders of Qualcomm AI Hub Models.",
        epilog="Exit status: 0 no errors (warnings pass unless past --max-warnings), 1 errors "
        "left (--diff: something to change), 2 usage or internal error.",
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
    output.add_argument("--verbose", action="store_true", help="show tracebacks of internal errors")
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
        help="only model folders changed since a git ref (and the models "
        "that depend on changed shared code)",
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
    deep.add_argument("--timeout", type=float, metavar="S", help="per-stage limit in seconds")
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


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------


def _settings_from_args(args: argparse.Namespace) -> Settings:
    start = args.paths[0] if args.paths else Path.cwd()
    if args.config is not None and not args.config.is_file():
        raise ConfigError(f"{args.config}: config file not found")
    settings = load_settings(args.config, start if start.exists() else Path.cwd())
    for flag, selectors in (("--select", args.select or ()), ("--ignore", args.ignore)):
        try:
            rule_selectors.validate(selectors)
        except rule_selectors.UnknownSelector as exc:
            raise UsageError(f"{flag}: {exc}") from exc
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
    color = (
        output_format == "full"
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM") != "dumb"
    )
    return settings.with_overrides(
        select=tuple(args.select) if args.select is not None else settings.select,
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


def _print_diff(outcome: FixOutcome, settings: Settings) -> None:
    cwd = Path.cwd()
    for path, data in sorted(outcome.changed.items()):
        display = Path(os.path.relpath(path, cwd)).as_posix()
        sys.stdout.write(unified_diff(path, outcome.originals.get(path), data, display))
    if outcome.changed:
        warnings = sum(1 for d in outcome.fixed if d.severity is Severity.WARNING)
        found = summary.describe(outcome.fixed_count - warnings, warnings)
        print(f"Would fix {found}.", file=sys.stderr)
        return
    unsafe = (
        0
        if settings.unsafe_fixes
        else sum(
            1
            for d in outcome.result.diagnostics
            if d.fix is not None and d.fix.applicability is Applicability.UNSAFE
        )
    )
    more = f" ({unsafe} more with `--unsafe-fixes`)" if unsafe else ""
    print(f"No fixes to make{more}.", file=sys.stderr)


def _write_fixes(
    workspace: Workspace, plan: Plan, outcome: FixOutcome
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Write the fixed files; the findings left and the findings fixed."""
    errors = []
    for path, data in sorted(outcome.changed.items()):
        try:
            write_atomic(path, data)
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


def _parse_shard(text: str) -> None:
    from qaihm_lint.deep.shard import ShardError, parse_shard

    try:
        parse_shard(text)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc


def _restrict_to_shard(workspace: Workspace, text: str, use_cache: bool) -> Workspace:
    from qaihm_lint.deep.shard import ShardError, shard_folders

    try:
        folders = shard_folders(workspace.folders, text, use_cache)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc
    # Shared code is checked once, by the first shard, so merged reports hold it once.
    first = text.strip().split("/", 1)[0] == "1"
    return Workspace(workspace.packages, folders, [], workspace.shared if first else [])


def _merge_reports(paths: Sequence[Path], settings: Settings) -> int:
    from qaihm_lint.deep.shard import ShardError, render_merged

    try:
        text, findings = render_merged(paths, settings.output_format)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(text)
    sys.stdout.flush()
    return 1 if findings and not settings.exit_zero else 0


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_rules:
        sys.stdout.write(list_rules())
        return 0
    if args.explain:
        sys.stdout.write(explain(args.explain))
        return 0
    settings = _settings_from_args(args)
    if args.merge_reports:
        return _merge_reports(args.paths, settings)
    if args.shard:
        _parse_shard(args.shard)
    plan = make_plan(settings)
    # Without PATHs, the current directory, as ruff does: from the repository root,
    # qai_hub_models/ or models/ that is every model folder; from inside a model folder, that
    # folder; from anywhere else in the package (utils/, datasets/), nothing.
    paths = list(args.paths) or [Path(".")]
    workspace = discover(paths, settings.exclude)
    if workspace.skipped:
        workspace = with_dependants(workspace, settings.exclude)
    if args.changed_since:
        workspace = restrict_to_changed(workspace, changed_files(args.changed_since, Path.cwd()))
    nothing_checked = ""
    if not workspace.folders:
        reason = why_nothing_to_check(workspace, paths, args.changed_since)
        nothing_checked = "" if workspace.shared else reason
        if nothing_checked and settings.output_format not in ("full", "concise"):
            # The human formats say it in their summary; keep machine output parsable.
            print(f"{PROG}: warning: no model folders to check: {nothing_checked}", file=sys.stderr)
    if args.shard:
        workspace = _restrict_to_shard(workspace, args.shard, settings.use_cache)

    fixed: list[Diagnostic] = []
    if settings.fix or settings.diff:
        outcome = lint_with_fixes(workspace, plan)
        for note in outcome.skipped:
            print(f"{PROG}: {note}", file=sys.stderr)
        if settings.diff:
            # The status says whether there is something to change: findings without a fix
            # are not shown by --diff, so they do not count.
            _print_diff(outcome, settings)
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
    if settings.baseline is not None:
        diagnostics = baseline.filter_new(diagnostics, settings.baseline)

    context = ReportContext(
        diagnostics=diagnostics,
        model_ids=[folder.model_id for folder in workspace.folders],
        shared_checked=len(workspace.shared),
        nothing_checked=nothing_checked,
        enabled=plan.enabled,
        fixed=len(fixed),
        fixed_warnings=sum(1 for d in fixed if d.severity is Severity.WARNING),
        statistics=settings.statistics,
        unsafe_fixes=settings.unsafe_fixes,
        max_warnings=settings.max_warnings,
        color=settings.color,
        deep_cases=deep_cases,
    )
    if settings.statistics and settings.output_format in ("sarif", "junit"):
        print(
            f"{PROG}: warning: --statistics has no {settings.output_format} form; "
            "the full report follows",
            file=sys.stderr,
        )
    if settings.statistics and settings.output_format not in ("json", "sarif", "junit"):
        sys.stdout.write(statistics_table(context))
    else:
        sys.stdout.write(renderer(settings.output_format)(context))
    sys.stdout.flush()
    if settings.exit_zero:
        return 0
    # ESLint's semantics: warnings are shown but fail the run only past --max-warnings.
    return 1 if context.fails() else 0


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
