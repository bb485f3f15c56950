"""Which raw findings a run keeps: enabled, not ignored, not silenced by a ``# noqa``, plus
QAI001 for the directives that silenced nothing."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qaihm_lint import suppressions
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.plan import Plan
from qaihm_lint.rules.meta import InternalError, UnusedNoqa
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import ModelFolder


def apply_suppressions(
    folder: ModelFolder,
    raw: Iterable[Diagnostic],
    plan: Plan,
    package_pass: bool = False,
    only: Iterable[Path] | None = None,
) -> list[Diagnostic]:
    """Drop suppressed and ignored findings; add QAI001 for directives that silenced nothing.

    A directive is judged in the pass that produces its code: the folder pass judges folder and
    Python rule codes (and codes that name no rule), the package pass judges package-rule codes
    (their findings only exist once every folder was read). ``only``: the files that can matter
    (see ``FolderResult.package_noqa``), when the caller knows them.
    """
    raw = list(raw)
    sources = _sources(folder, raw, only)
    parsed: dict[Path, suppressions.FileSuppressions] = {}

    def suppressions_for(path: Path) -> suppressions.FileSuppressions | None:
        if path not in parsed:
            source = sources.get(path)
            if source is None:
                return None
            parsed[path] = suppressions.parse(source)
        return parsed[path]

    kept = []
    for diagnostic in raw:
        crashed = diagnostic.code == InternalError.code and plan.reports_crashes
        if diagnostic.code not in plan.enabled and not crashed:
            continue
        if plan.ignores(folder.model_id, diagnostic.code):
            continue
        found = suppressions_for(diagnostic.path)
        if found is not None and found.suppress(diagnostic):
            continue
        kept.append(diagnostic)

    if UnusedNoqa.code in plan.enabled and not plan.ignores(folder.model_id, UnusedNoqa.code):
        judged = {
            c
            for c in plan.enabled
            if not plan.ignores(folder.model_id, c) and (c in plan.package_codes) == package_pass
        }
        # Cheap byte test before tokenizing: the package pass only judges package-rule codes.
        needles = [code.encode() for code in judged] if package_pass else [b"QAI"]
        for path, source in sources.items():
            try:
                data = source.data.upper()
            except SourceError:
                continue
            if not any(needle in data for needle in needles):
                continue
            found = suppressions_for(path)
            if found is not None:
                # What is still reported on each row: a mistyped code may have been meant for it.
                rows: dict[int, set[str]] = {}
                for d in kept:
                    if d.path == path:
                        rows.setdefault(d.start.row, set()).add(d.code)
                kept.extend(
                    suppressions.unused_directive_findings(
                        source,
                        found,
                        judged,
                        folder.model_id,
                        judge_unknown=not package_pass,
                        reported=rows,
                    )
                )
    return sorted(kept, key=Diagnostic.sort_key)


def _sources(
    folder: ModelFolder, raw: list[Diagnostic], only: Iterable[Path] | None
) -> dict[Path, SourceFile]:
    if only is None:
        return {source.path: source for source in folder.text_files()}
    sources = {}
    for path in {*only, *(d.path for d in raw)}:
        source = folder.file(path.name) if path.parent == folder.path else None
        if source is not None:
            sources[path] = source
    return sources
