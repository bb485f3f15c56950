"""Models of the shared environment that cannot be installed together (QAI306)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from qaihm_lint.requirements_file import RequirementLine
from qaihm_lint.rules._settings import CODE_GEN, FLAG
from qaihm_lint.rules.base import Invalid, PackageRule, Valid
from qaihm_lint.rules.requirements import (
    PUBLISHES_CODE_GEN,
    REQUIREMENTS,
    ModelRequirements,
    model_requirements,
    quote,
)
from qaihm_lint.specifiers import active_envs, intersects


class CrossModelRequirementConflict(PackageRule):
    summary = (
        "Two models in the shared environment (no incompatible flag) require versions of "
        "one package that no release satisfies together."
    )
    why = (
        "Models without the flag are installed together; if one pins a package where another "
        "cannot follow, the shared environment cannot be built and one of them breaks. Models "
        "with a pin that conflicts with global_requirements.txt are QAI302's to report (they "
        "must leave the shared environment anyway)."
    )
    valid = (
        Valid(
            "fvcore==0.1.5\n",
            path=REQUIREMENTS,
            other_models={"other": {REQUIREMENTS: "fvcore>=0.1\n"}},
        ),
        Valid(
            "fvcore==0.1.5\n",
            path=REQUIREMENTS,
            other_models={"other": {REQUIREMENTS: "fvcore==0.1.4\n", CODE_GEN: f"{FLAG}: true\n"}},
        ),
    )
    invalid = (
        Invalid(
            "fvcore==0.1.5.post20210825\n",
            path=REQUIREMENTS,
            other_models={
                "other": {REQUIREMENTS: "fvcore==0.1.5.post20221221\n"},
                **PUBLISHES_CODE_GEN,
            },
        ),
        Invalid(
            "torch==2.4.1\n",
            path=REQUIREMENTS,
            other_models={"other": {REQUIREMENTS: "torch==2.6.0\n"}, **PUBLISHES_CODE_GEN},
            note="Both inside global's range, yet not installable together.",
        ),
    )

    def check_package(self) -> None:
        by_name: dict[str, list[tuple[ModelRequirements, RequirementLine]]] = defaultdict(list)
        for folder in self.package_ctx.folders:
            model = model_requirements(folder)
            if model.flag.value or model.flag.unknown:
                continue
            lines = model.lines
            if any(model.global_conflict(line) is not None for line in lines):
                # QAI302 already asks this model to leave the shared environment; what it
                # would break for the others follows from that and is not repeated here.
                continue
            for line in lines:
                if line.name is not None and str(line.specifier):
                    by_name[line.name].append((model, line))
        checked = self.package_ctx.checked
        for entries in by_name.values():
            if len({model.folder.model_id for model, _ in entries}) < 2:
                continue
            for model, line in entries:
                if model.folder.model_id not in checked or not model.own(line):
                    continue
                others = self._conflicting(line, model, entries)
                if not others:
                    continue
                self._report(model, line, others)

    @staticmethod
    def _conflicting(
        line: RequirementLine,
        model: ModelRequirements,
        entries: Sequence[tuple[ModelRequirements, RequirementLine]],
    ) -> list[tuple[str, RequirementLine]]:
        envs = active_envs(line.marker)
        out: dict[str, RequirementLine] = {}
        for other_model, other in entries:
            other_id = other_model.folder.model_id
            if other_id == model.folder.model_id or other_id in out:
                continue
            if envs & active_envs(other.marker) and not intersects(line.specifier, other.specifier):
                out[other_id] = other
        return sorted(out.items())

    def _report(
        self,
        model: ModelRequirements,
        line: RequirementLine,
        others: Iterable[tuple[str, RequirementLine]],
    ) -> None:
        listed = list(others)
        first_id, first = listed[0]
        more = ""
        if len(listed) > 1:
            names = ", ".join(f"{mid} (`{other.text}`)" for mid, other in listed[1:4])
            extra = f" and {len(listed) - 4} more" if len(listed) > 4 else ""
            more = f"; also {names}{extra}"
        self.report_for(
            model.folder.model_id,
            line.source,
            f"{quote(line)} cannot be installed together with `{first.text}` required by "
            f"model {first_id} ({first.path.name} line {first.row}){more}: both share "
            f"global_requirements.txt's environment; agree on one version, or set `{FLAG}: "
            f"true` for one of them",
            start=line.location(),
            end=line.end_location(),
        )
