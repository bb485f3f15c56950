"""Command line: argv -> Settings -> run -> report -> exit code.

Exit codes: 0 nothing left to report, 1 findings left, 2 usage, configuration or internal
error (one line on stderr; the traceback only with --verbose).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from qaihm_lint import __version__, baseline
from qaihm_lint.config import OUTPUT_FORMATS, ConfigError, DeepSettings, Settings, load_settings
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine import FixOutcome, Plan, lint, lint_with_fixes, make_plan
from qaihm_lint.fixers.apply import (
    WriteError,
    remove_stale_temporaries,
    unified_diff,
    write_atomic,
)
from qaihm_lint.report import DeepCase, ReportContext, renderer, statistics_table
from qaihm_lint.rules import UnknownSelector, all_rules
from qaihm_lint.workspace import (
    GLOBAL_REQUIREMENTS,
    ModelFolder,
    Workspace,
    WorkspaceError,
    discover,
    find_package_root,
    layout_of,
)

PROG = "qaihm-lint"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of ours, instead of argparse's usage block.
        raise UsageError(f"{message} (see {PROG} --help)")


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lint and fix the model folders of Qualcomm AI Hub Models.",
        epilog="Exit status: 0 no findings, 1 findings left, 2 usage or internal error.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="repository, qai_hub_models/, models/, model folders or files "
        "(default: the package found from the current directory)",
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
    selection.add_argument(
        "--select",
        type=_codes,
        metavar="CODES",
        help="comma-separated codes or prefixes (QAI3 = requirements rules)",
    )
    selection.add_argument(
        "--ignore", type=_codes, metavar="CODES", default=[], help="codes or prefixes to leave out"
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


def list_rules() -> str:
    lines = []
    for code, rule in all_rules().items():
        fix = {None: "   ", "safe": "[*]", "unsafe": "[U]"}[
            rule.fix_applicability.value if rule.fix_applicability else None
        ]
        state = "" if rule.enabled_by_default else " (off by default)"
        severity = "" if rule.severity.value == "error" else " (warning)"
        lines.append(f"{code}  {fix}  {rule.slug:<42} {rule.summary}{severity}{state}")
    lines.append("")
    lines.append("[*] safe fix (--fix), at least in some cases   [U] fix only with --unsafe-fixes")
    return "\n".join(lines) + "\n"


def rules_markdown() -> str:
    """docs/rules.md: every rule's --explain text under a heading its JSON ``url`` points at."""
    parts = [
        "# qaihm-lint rules\n\n"
        "Generated from the rule classes (`qaihm-lint --explain CODE` prints the same); "
        "`tests/test_project.py` keeps this file in step with them.\n"
    ]
    for code, rule in all_rules().items():
        parts.append(f'\n<a id="{code.lower()}"></a>\n\n## {code} {rule.slug}\n\n')
        parts.append("```text\n" + explain(code) + "```\n")
    return "".join(parts)


def explain(code: str) -> str:
    rules = all_rules()
    by_slug = {rule.slug: rule for rule in rules.values()}
    rule = rules.get(code.upper()) or by_slug.get(code)
    if rule is None:
        raise UsageError(f"unknown rule {code!r} (see {PROG} --list-rules)")
    out = [f"{rule.code} ({rule.slug})", "", rule.summary, ""]
    out += [
        "Why it matters:",
        textwrap.fill(rule.why, 88, initial_indent="  ", subsequent_indent="  "),
        "",
    ]
    state = "on" if rule.enabled_by_default else "off (enable with --select " + rule.code + ")"
    out.append(f"Severity: {rule.severity.value}. Enabled by default: {state}.")
    if rule.fix_applicability is None:
        out.append("Fix: none.")
    else:
        out.append(f"Fix: {rule.fix_applicability.value}. {rule.fix_note}".rstrip())
    for title, examples in (("Valid", rule.valid), ("Invalid", rule.invalid)):
        for example in examples:
            out += ["", f"{title} ({example.path}):"]
            if example.note:
                out.append(
                    textwrap.fill(example.note, 88, initial_indent="  # ", subsequent_indent="  # ")
                )
            for name, text in sorted(example.package_files.items()):
                out.append(f"  # with qai_hub_models/{name}:")
                out += ["  #   " + line for line in text.rstrip("\n").split("\n")]
            body = example.source
            if body is None:
                out.append(f"  ({example.path} absent)")
            else:
                out += ["    " + line for line in body.rstrip("\n").split("\n")]
            if example.fixed is not None:
                out += ["", "  Fixed:"]
                out += ["    " + line for line in example.fixed.rstrip("\n").split("\n")]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------


def _settings_from_args(args: argparse.Namespace) -> Settings:
    start = args.paths[0] if args.paths else Path.cwd()
    if args.config is not None and not args.config.is_file():
        raise ConfigError(f"{args.config}: config file not found")
    settings = load_settings(args.config, start if start.exists() else Path.cwd())
    output_format = args.output_format or "full"
    if output_format not in OUTPUT_FORMATS:
        raise UsageError(
            f"unknown output format {output_format!r} (choose from {', '.join(OUTPUT_FORMATS)})"
        )
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
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
        jobs=args.jobs if args.jobs is not None else settings.jobs,
        use_cache=not args.no_cache,
        baseline=args.baseline,
        write_baseline=args.write_baseline,
        verbose=args.verbose,
        color=color,
        deep=deep,
    )


def _default_path() -> Path:
    """Without PATHs: the whole package found from the current directory (DESIGN §5)."""
    cwd = Path.cwd()
    root = find_package_root(cwd)
    return root if root is not None else cwd


def _changed_files(ref: str, cwd: Path) -> list[Path]:
    def git(*command: str) -> str:
        try:
            completed = subprocess.run(
                ["git", *command], cwd=cwd, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise UsageError(f"--changed-since needs git: {exc}") from exc
        if completed.returncode != 0:
            detail = completed.stderr.strip().splitlines()
            raise UsageError(f"--changed-since {ref}: {detail[-1] if detail else 'git failed'}")
        return completed.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    names = git("diff", "--name-only", ref, "--").splitlines()
    names += git("ls-files", "--others", "--exclude-standard").splitlines()
    return [top / name for name in names if name]


def _restrict_to_changed(workspace: Workspace, changed: list[Path]) -> Workspace:
    """The folders a change can affect: those it touches, and the dependants of changed shared
    code (through the index: the modules their classes inherit from or import). A change to
    global_requirements.txt, or to shared files that are not Python modules, affects all."""
    resolved = {path.resolve() for path in changed}
    affected: set[Path] = set()
    for package in workspace.packages:
        folders = [f.path for f in workspace.folders if f.package is package]
        shared: list[Path] = []
        for path in resolved:
            try:
                parts = path.relative_to(package.root).parts
            except ValueError:
                continue
            if any(path == folder or folder in path.parents for folder in folders):
                continue  # a model folder's own file: handled below
            if parts == (GLOBAL_REQUIREMENTS,) or (path.suffix != ".py" and _is_shared(parts)):
                affected.update(folders)
                break
            if _is_shared(parts):
                shared.append(path)
        else:
            if shared:
                from qaihm_lint.index import RepoIndex

                index = RepoIndex.build(package.root)
                affected.update(index.dependants(*shared, among=folders))
    for path in resolved:
        for folder in workspace.folders:
            if path == folder.path or folder.path in path.parents:
                affected.add(folder.path)
    keep = [folder for folder in workspace.folders if folder.path in affected]
    return Workspace(workspace.packages, keep, workspace.skipped)


def _with_dependants(workspace: Workspace, exclude: Sequence[str]) -> Workspace:
    """Shared modules passed as PATHs (pre-commit passes the files a commit changes) stand for
    the model folders whose classes depend on them."""
    import fnmatch

    from qaihm_lint.index import RepoIndex

    folders = {folder.path: folder for folder in workspace.folders}
    for package in workspace.packages:
        shared = []
        for raw in workspace.skipped:
            path = raw.resolve()
            try:
                parts = path.relative_to(package.root).parts
            except ValueError:
                continue
            if path.suffix == ".py" and _is_shared(parts):
                shared.append(path)
        if not shared:
            continue
        index = RepoIndex.build(package.root)
        for folder_path in index.dependants(*shared):
            if folder_path in folders or any(
                fnmatch.fnmatchcase(folder_path.name, pattern) for pattern in exclude
            ):
                continue
            folders[folder_path] = ModelFolder(
                folder_path, layout_of(folder_path, package), package
            )
    ordered = [folders[path] for path in sorted(folders)]
    return Workspace(workspace.packages, ordered, workspace.skipped)


def _is_shared(parts: tuple[str, ...]) -> bool:
    """Package code model folders can import: utils/, models/_shared/ (templates/ later)."""
    return parts[:1] == ("utils",) or (
        parts[:1] == ("models",)
        and len(parts) > 2
        and (parts[1].startswith("_") or parts[1] == "templates")
    )


def _print_diff(outcome: FixOutcome) -> None:
    cwd = Path.cwd()
    for path, data in sorted(outcome.changed.items()):
        display = Path(os.path.relpath(path, cwd)).as_posix()
        sys.stdout.write(unified_diff(path, outcome.originals.get(path), data, display))
    fixed = outcome.fixed_count
    print(f"Would fix {fixed} error{'s' * (fixed != 1)}.", file=sys.stderr)


def _write_fixes(
    workspace: Workspace, plan: Plan, outcome: FixOutcome
) -> tuple[list[Diagnostic], int]:
    """Write the fixed files; the findings left and the number fixed."""
    errors = []
    for path, data in sorted(outcome.changed.items()):
        try:
            write_atomic(path, data)
        except WriteError as exc:
            errors.append(str(exc))
    for folder in workspace.folders:
        remove_stale_temporaries(folder.path)
    diagnostics, fixed = outcome.result.diagnostics, outcome.fixed_count
    for error in errors:
        print(f"{PROG}: {error}", file=sys.stderr)
    if errors:
        # Some fixes never reached the disk: report what the files really hold now.
        on_disk = Workspace(
            workspace.packages,
            [ModelFolder(f.path, f.layout, f.package) for f in workspace.folders],
            workspace.skipped,
        )
        remaining = lint(on_disk, plan).diagnostics
        fixed = max(0, fixed - max(0, len(remaining) - len(diagnostics)))
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
    cases = []
    for outcome in result.outcomes:
        for record in outcome.records:
            name = f"deep.{record['stage']}"
            if record.get("component"):
                name += f".{record['component']}"
            if record.get("target"):
                name += f"@{record['target']}"
            cases.append(
                DeepCase(
                    outcome.folder.model_id,
                    name,
                    str(record.get("status", "ok")),
                    str(record.get("message") or ""),
                )
            )
    return result.diagnostics, cases


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
    return Workspace(workspace.packages, folders, [])


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
    paths = list(args.paths) or [_default_path()]
    workspace = discover(paths, settings.exclude)
    if workspace.skipped:
        workspace = _with_dependants(workspace, settings.exclude)
    if args.changed_since:
        workspace = _restrict_to_changed(workspace, _changed_files(args.changed_since, Path.cwd()))
    if not workspace.folders and not workspace.skipped and not args.changed_since:
        raise WorkspaceError("no model folders found under " + ", ".join(map(str, paths)))
    if args.shard:
        workspace = _restrict_to_shard(workspace, args.shard, settings.use_cache)

    fixed = 0
    if settings.fix or settings.diff:
        outcome = lint_with_fixes(workspace, plan)
        for note in outcome.skipped:
            print(f"{PROG}: {note}", file=sys.stderr)
        if settings.diff:
            _print_diff(outcome)
            pending = bool(outcome.changed) or bool(outcome.result.diagnostics)
            return 1 if pending and not settings.exit_zero else 0
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
        enabled=plan.enabled,
        fixed=fixed,
        statistics=settings.statistics,
        color=settings.color,
        deep_cases=deep_cases,
    )
    if settings.statistics and settings.output_format not in ("json", "sarif", "junit"):
        sys.stdout.write(statistics_table(context))
    else:
        sys.stdout.write(renderer(settings.output_format)(context))
    sys.stdout.flush()
    if settings.exit_zero:
        return 0
    return 1 if diagnostics else 0


def main(argv: Sequence[str] | None = None) -> int:
    verbose = "--verbose" in (sys.argv[1:] if argv is None else argv)
    try:
        return run(argv)
    except (
        UsageError,
        ConfigError,
        WorkspaceError,
        UnknownSelector,
        baseline.BaselineError,
    ) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
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
