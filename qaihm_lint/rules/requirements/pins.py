"""Requirements pinned to a version (QAI301) or to exactly one (QAI307)."""

from __future__ import annotations

from qaihm_lint import requirements_file as rf
from qaihm_lint.diagnostics import Applicability, Severity
from qaihm_lint.requirements_file import RequirementLine
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.requirements import (
    REQUIREMENTS,
    LineRule,
    ModelRequirements,
    model_requirements,
    pin_fix,
    quote,
    requirement_name,
    restates_global,
)
from qaihm_lint.specifiers import active_envs
from qaihm_lint.workspace import Layout


class UnpinnedRequirement(LineRule):
    summary = (
        "A requirements line names a package without any version; a git URL must name a "
        "full 40-hex commit."
    )
    why = (
        "A bare name installs whatever is newest on the day, so the model that passed CI is "
        "not the model users get; upstream pinned its bare `psutil` and `wmi` lines. A range "
        "is another matter: upstream keeps deliberate ranges for years (`torch>=2.6` for "
        "Hugging Face's safe loading, `torchaudio>=2.4.0,<2.10.0` in nine folders), so the "
        "guide's exact pins are QAI307, a warning."
    )
    fix_applicability = Applicability.SAFE
    fix_note = (
        "Safe when global_requirements.txt pins the package with `==` (that version is used; "
        "in the manifest layout its specifier is copied). Otherwise no fix: the version must "
        "be the one the model was tested with, which the tree does not record, and a version "
        "taken from where qaihm-lint runs would differ between machines."
    )
    valid = (
        Valid("numpy==1.26.4\ntransformers==4.56.2  # tokenizer fix\n", path=REQUIREMENTS),
        Valid(
            "torch>=2.6  # required to load unsafe weights\n",
            path=REQUIREMENTS,
            note="A range is QAI307's (a warning), not this rule's.",
        ),
        Valid(
            "yolo @ git+https://github.com/org/yolo@0123456789abcdef0123456789abcdef01234567\n",
            path=REQUIREMENTS,
        ),
        Valid("scipy  # noqa: QAI301 - any version works\n", path=REQUIREMENTS),
        Valid("plyfile>=1.0\n", path=REQUIREMENTS, layout=Layout.MANIFEST),
    )
    invalid = (
        Invalid(
            "psutil; sys_platform != 'win32'\n",
            path=REQUIREMENTS,
            package_files={"global_requirements.txt": "psutil==6.1.1\n"},
            fixed="psutil==6.1.1; sys_platform != 'win32'\n",
        ),
        Invalid(
            "wmi; sys_platform == 'win32'\n",
            path=REQUIREMENTS,
            note="Nothing in the tree pins it: the message says what to write, markers kept.",
        ),
        Invalid("yolo @ git+https://github.com/org/yolo@main\n", path=REQUIREMENTS),
        Invalid(
            "plyfile\n",
            path=REQUIREMENTS,
            layout=Layout.MANIFEST,
            package_files={"global_requirements.txt": "plyfile>=1.0,<=1.1\n"},
            fixed="plyfile>=1.0,<=1.1\n",
        ),
        Invalid(
            "onnxruntime-gpu==1.23.2\npsutil; sys_platform != 'win32'\n",
            path="requirements-gpu.txt",
            note="Every requirements file of the model is read (upstream pinned these in 0.53.0).",
        ),
    )

    shared_code = True

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        manifest = self.folder.layout is Layout.MANIFEST
        for line in model.all_lines:
            if not model.own(line) or line.is_pinned:
                continue
            if line.is_vcs:
                ref = f"`@{line.vcs_ref}`" if line.vcs_ref else "no `@<ref>`"
                self.report_line(
                    line,
                    f"{quote(line)} is not pinned: the URL has {ref}; a branch or tag "
                    "moves. Pin a full 40-hex commit SHA: `…@<sha>#egg=<name>`",
                )
                continue
            if line.url is not None or str(line.specifier):
                continue
            if manifest:
                self._report_manifest(line, model)
            else:
                self._report_info(line, model)

    def _report_info(self, line: RequirementLine, model: ModelRequirements) -> None:
        name = requirement_name(line)
        self.report_exact_pin_wanted(
            line,
            model,
            f"`{name}` has no version",
            f" (`pip show {name}` in its environment prints it)",
        )

    def _report_manifest(self, line: RequirementLine, model: ModelRequirements) -> None:
        name = requirement_name(line)
        head = (
            f"`{name}` has no version specifier: add at least a lower bound "
            f"(`{name}>=<version>`) or pin it"
        )
        envs = active_envs(line.marker)
        entries = [
            e
            for e in (model.global_reqs.entries(line.name) if model.global_reqs else [])
            if envs & active_envs(e.marker)
        ]
        texts = {rf.specifier_text(e) for e in entries}
        if len(texts) == 1 and entries:
            (text,) = texts
            fix = pin_fix(
                line, text, f"Use global_requirements.txt's `{name}{text}`", Applicability.SAFE
            )
            self.report_line(
                line,
                f"{head}; global_requirements.txt has `{name}{text}`: use it",
                fix=fix,
            )
            return
        self.report_line(line, head)


class InexactRequirement(LineRule):
    summary = "A requirements line allows a range of versions instead of pinning one (`==`)."
    why = (
        "The onboarding guide asks for exact pins, so that the model that passed CI is the "
        "model users get. Upstream pins its ranges slowly (every `~=` in 0.53.0, the last "
        "`torch>=2.6` ranges in 0.65.0) and keeps deliberate ones for years, so this is a "
        "warning: shown, never failing a run. A range closed on one version "
        "(`>=0.7.3,<=0.7.3`) is a pin. A line that restates global_requirements.txt's bounded "
        "range is accepted (the shared environment governs that version); a restated `~=` "
        "is not (upstream pinned those, global's own included)."
    )
    severity = Severity.WARNING
    shared_code = True
    fix_applicability = Applicability.SAFE
    fix_note = "Safe when global_requirements.txt pins the package with `==`; otherwise none."
    valid = (
        Valid("numpy==1.26.4\n", path=REQUIREMENTS),
        Valid(
            "torch>=2.1,<2.9\n",
            path=REQUIREMENTS,
            note="Restates global_requirements.txt: the shared environment decides.",
        ),
        Valid("psutil\n", path=REQUIREMENTS, note="No version at all is QAI301's."),
        Valid(
            "loguru>=0.7.3,<=0.7.3\n",
            path=REQUIREMENTS,
            note="A range that admits one version is a pin (yolox's fix in 0.53.0).",
        ),
    )
    invalid = (
        Invalid(
            "timm>=1.0  # backbone\n",
            path=REQUIREMENTS,
            package_files={"global_requirements.txt": "timm==1.0.15\n"},
            fixed="timm==1.0.15  # backbone\n",
        ),
        Invalid("loguru>=0.7.3\n", path=REQUIREMENTS),
        Invalid(
            "transformers~=4.56.2\n",
            path=REQUIREMENTS,
            package_files={"global_requirements.txt": "transformers~=4.56.2\n"},
            note="Restates global's `~=`: still a range (upstream pinned both in 0.53.0).",
        ),
        Invalid(
            "torch>=2.6,<=2.11.0  # safe loading\n",
            path=REQUIREMENTS,
            layout=Layout.MANIFEST,
            note="Every layout, every requirements file (mobile_vit's, pinned in 0.65.0).",
        ),
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        for line in model.all_lines:
            if not model.own(line) or line.is_pinned or line.is_vcs or line.url is not None:
                continue
            if not str(line.specifier):
                continue
            if restates_global(line, model.global_reqs) and not _compatible_release(line):
                continue
            head = f"`{requirement_name(line)}` allows a range (`{rf.specifier_text(line)}`)"
            self.report_exact_pin_wanted(line, model, head)


def _compatible_release(line: RequirementLine) -> bool:
    """``~=X.Y.Z``: one version named, its patch releases let in. Upstream pinned every such
    line to ``==`` in 0.53.0, global_requirements.txt's own included, while it kept the
    bounded ranges it restates (``scipy>=1.8.1,<=1.17.1``) to this day."""
    return any(spec.operator == "~=" for spec in line.specifier)
