"""One model folder, checked: folder rules, then one walk per hand-written Python file feeding
every Python rule, then suppressions. Runs in the parent or in a worker process alike."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.context import ModelContext
from qaihm_lint.diagnostics import Diagnostic, Location
from qaihm_lint.engine.suppress import apply_suppressions
from qaihm_lint.engine.walk import walk_file
from qaihm_lint.plan import Plan
from qaihm_lint.rules.base import PythonRule, Rule
from qaihm_lint.rules.meta import InternalError, SyntaxErrorRule
from qaihm_lint.sources import SourceError, SourceFile, recording_reads
from qaihm_lint.workspace import ModelFolder


@dataclass
class FolderResult:
    diagnostics: list[Diagnostic]
    # Files outside the folder that the diagnostics were computed from.
    dependencies: list[Path]
    # The folder's files that mention a package-rule code: the only ones the package pass
    # must read to judge unused noqa directives for those codes.
    package_noqa: list[Path] = field(default_factory=list)


def internal_error(
    rule: type[Rule], path: Path, model_id: str | None, exc: BaseException, verbose: bool
) -> Diagnostic:
    """QAI002: ``rule`` raised ``exc``; the run goes on without it."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    return InternalError.diagnostic(
        path,
        f"rule {rule.code} ({rule.slug}) failed on this file: "
        f"{type(exc).__name__}: {exc}{where}; please report this",
        model_id=model_id,
        start=Location(1, 1),
        anchor=f"{rule.code}:{type(exc).__name__}",
    )


def _syntax_error(source: SourceFile, error: SourceError, model_id: str | None) -> Diagnostic:
    return SyntaxErrorRule.diagnostic(
        source.path,
        f"{source.path.name} {error}",
        model_id=model_id,
        start=error.location,
        anchor=str(error),
    )


def check_folder(folder: ModelFolder, plan: Plan) -> list[Diagnostic]:
    """Every enabled rule on one model folder, suppressions applied, sorted."""
    return check_folder_result(folder, plan).diagnostics


def check_folder_result(folder: ModelFolder, plan: Plan) -> FolderResult:
    """The folder's findings, and every file outside it that they were computed from."""
    with recording_reads() as reads:
        raw = _run_rules(ModelContext(folder, plan.settings), plan)
    own = folder.path
    dependencies = sorted(path for path in reads if own not in path.parents)
    kept = apply_suppressions(folder, raw, plan)
    return FolderResult(kept, dependencies, _package_noqa_files(folder, plan))


def _run_rules(ctx: ModelContext, plan: Plan) -> list[Diagnostic]:
    folder = ctx.folder
    verbose = plan.settings.verbose
    raw: list[Diagnostic] = []
    for rule_cls in plan.folder_rules:
        if folder.layout not in rule_cls.layouts or (folder.shared and not rule_cls.shared_code):
            continue
        rule = rule_cls(ctx)
        try:
            rule.check()
        except Exception as exc:
            raw.append(internal_error(rule_cls, folder.path, folder.model_id, exc, verbose))
        raw.extend(rule.diagnostics)

    python_rules = [
        r
        for r in plan.python_rules
        if folder.layout in r.layouts and (r.shared_code or not folder.shared)
    ]
    for source in folder.python_files():
        applicable = [r for r in python_rules if r.applies_to(source.path.name)]
        if not applicable and SyntaxErrorRule.code not in plan.enabled:
            continue
        try:
            source.tree  # noqa: B018 - parse now so a syntax error is reported once, here
        except SourceError as error:
            if SyntaxErrorRule.code in plan.enabled:
                raw.append(_syntax_error(source, error, folder.model_id))
            continue
        applicable = [r for r in applicable if r.triggered_by(source.text)]
        if applicable:

            def on_error(rule: PythonRule, exc: Exception, path: Path = source.path) -> None:
                raw.append(internal_error(type(rule), path, folder.model_id, exc, verbose))

            raw.extend(walk_file(source, [rule_cls(ctx) for rule_cls in applicable], on_error))
    return raw


def _package_noqa_files(folder: ModelFolder, plan: Plan) -> list[Path]:
    needles = [code.encode() for code in plan.package_codes]
    found = []
    if needles:
        for source in folder.text_files():
            try:
                data = source.data.upper()
            except SourceError:
                continue
            if any(needle in data for needle in needles):
                found.append(source.path)
    return found
