"""What a deep run found: each model's stage records, as findings and as junit cases.

This is the one place where a stage's verdict becomes a rule code: every ``DeepRule`` in
``qaihm_lint.rules.deep`` declares the stage (and, for a narrower failure, the outcome) it
reports, and the map below is built from those classes. Workers and records speak only in
stages and outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.deep.inside.records import ANY_STAGE, OUTCOMES, STAGE_NUMBER, StageRecord
from qaihm_lint.diagnostics import Diagnostic, Location, Severity
from qaihm_lint.report import DeepCase
from qaihm_lint.rules.deep import DeepRule
from qaihm_lint.workspace import ModelFolder


@dataclass
class ModelOutcome:
    """Every stage verdict of one model (passes included, for junit), and whether it came
    from the cache."""

    folder: ModelFolder
    records: list[StageRecord] = field(default_factory=list)
    cached: bool = True
    submitted: int = 0


@dataclass
class DeepResult:
    diagnostics: list[Diagnostic]
    outcomes: list[ModelOutcome]
    workers_run: int
    jobs_submitted: int

    def junit_cases(self) -> list[DeepCase]:
        """Every stage verdict as a junit test case, in run order per model."""
        return [
            DeepCase(outcome.folder.model_id, _case_name(record), record.status, record.message)
            for outcome in self.outcomes
            for record in outcome.records
        ]


Verdict = tuple[str, str | None]  # (stage or ANY_STAGE, outcome or None)


def _rules_by_verdict(rules: Iterable[type[DeepRule]]) -> dict[Verdict, type[DeepRule]]:
    found: dict[Verdict, type[DeepRule]] = {}
    for rule in rules:
        verdict = (rule.stage, rule.outcome)
        if rule.stage not in STAGE_NUMBER and rule.stage != ANY_STAGE:
            raise ValueError(f"{rule.__name__} reports the unknown deep stage {rule.stage!r}")
        if rule.outcome is not None and rule.outcome not in OUTCOMES:
            raise ValueError(f"{rule.__name__} reports the unknown outcome {rule.outcome!r}")
        if verdict in found:
            raise ValueError(f"{rule.__name__} and {found[verdict].__name__} report {verdict}")
        found[verdict] = rule
    return found


RULES: Mapping[Verdict, type[DeepRule]] = _rules_by_verdict(DeepRule.__subclasses__())
SLUGS: Mapping[str, str] = {rule.code: rule.slug for rule in RULES.values()}


def rule_for(record: StageRecord) -> type[DeepRule]:
    """The rule a failed ``record`` is reported under: its stage's, or its outcome's."""
    outcome = record.verdict
    return RULES.get((record.stage, outcome)) or RULES[(ANY_STAGE, outcome)]


def model_path(folder: ModelFolder) -> Path:
    model_py = folder.path / "model.py"
    return model_py if model_py.is_file() else folder.path


def frame_location(folder: ModelFolder, where: str | None) -> tuple[Path, Location] | None:
    """The file and line a record's ``where`` names, when it is a file of the checked tree."""
    if not where or folder.package is None:
        return None
    parts = where.split(":")
    numbers: list[int] = []
    while len(parts) > 1 and parts[-1].isdigit() and len(numbers) < 2:
        numbers.insert(0, int(parts.pop()))
    if not numbers:
        return None
    path = folder.package.repo_root / ":".join(parts)
    if not path.is_file():
        return None
    return path, Location(max(1, numbers[0]), max(1, numbers[1]) if len(numbers) > 1 else 1)


def diagnostics_for(outcome: ModelOutcome) -> list[Diagnostic]:
    found = []
    for record in outcome.records:
        if not record.failed:
            continue
        # The frame that raised, inside the checked tree; else the model's model.py.
        path, start = frame_location(outcome.folder, record.where) or (
            model_path(outcome.folder),
            Location(1, 1),
        )
        rule = rule_for(record)
        where = [record.stage]
        if record.component:
            where.append(f"component {record.component}")
        if record.target:
            where.append(f"on {record.target}")
        number = STAGE_NUMBER[record.stage]
        found.append(
            Diagnostic(
                code=rule.code,
                rule=rule.slug,
                message=f"deep stage {number} ({', '.join(where)}): {record.message}",
                severity=Severity.ERROR,
                path=path,
                start=start,
                end=start,
                model_id=outcome.folder.model_id,
                anchor=f"deep:{record.stage}:{record.component or ''}:{record.target or ''}",
                extra={
                    key: value
                    for key in ("stage", "component", "target", "url")
                    if (value := getattr(record, key))
                },
            )
        )
    return found


def _case_name(record: StageRecord) -> str:
    name = f"deep.{record.stage}"
    if record.component:
        name += f".{record.component}"
    if record.target:
        name += f"@{record.target}"
    return name
