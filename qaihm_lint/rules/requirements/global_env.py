"""A model in global_requirements.txt's shared environment, or out of it for a reason
(QAI302, QAI303)."""

from __future__ import annotations

from qaihm_lint.diagnostics import Applicability, Fix, Severity
from qaihm_lint.fixers.text_fixes import remove_top_level_key, set_top_level_true
from qaihm_lint.requirements_file import RequirementLine
from qaihm_lint.rules._settings import CODE_GEN, FLAG
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.requirements import (
    PUBLISHES_CODE_GEN,
    REQUIREMENTS,
    Conflict,
    LineRule,
    ModelRequirements,
    flag_state,
    model_requirements,
    quote,
    shared_code_users,
)
from qaihm_lint.specifiers import active_envs, same_specifier
from qaihm_lint.workspace import Layout


def _flag_fix(model: ModelRequirements) -> Fix | None:
    flag = model.flag
    if not flag.in_folder or flag.unknown or flag.path is None:
        return None
    edit = set_top_level_true(flag.source, flag.document, FLAG)
    if edit is None:
        return None
    verb = "Create" if flag.source is None else "Edit"
    return Fix(
        Applicability.UNSAFE, f"{verb} {CODE_GEN}: set `{FLAG}: true`", (edit,), path=flag.path
    )


class GlobalRequirementsConflict(LineRule):
    summary = (
        "A requirement no version of which satisfies global_requirements.txt (markers "
        f"evaluated), while the model does not set `{FLAG}: true`."
    )
    why = (
        "Models without the flag are installed into one environment with "
        "global_requirements.txt; a pin outside its range breaks that environment for every "
        f"model. Either use a version global allows or declare `{FLAG}: true` (code-gen.yaml; "
        "scorecard-config.yaml in the manifest layout) so the model gets its own environment."
    )
    fix_applicability = Applicability.UNSAFE
    fix_note = (
        f"Unsafe: sets `{FLAG}: true` in code-gen.yaml (created when absent; other keys "
        "and comments kept). The manifest layout keeps the flag in "
        "scorecard/models/<id>/scorecard-config.yaml, outside the model folder: no fix."
    )
    valid = (
        Valid("torch==2.4.1\n", path=REQUIREMENTS, note="Inside global's >=2.1,<2.9."),
        Valid(
            "torch==2.0.0\n",
            path=REQUIREMENTS,
            files={REQUIREMENTS: "torch==2.0.0\n", CODE_GEN: f"{FLAG}: true\n"},
            note=f"code-gen.yaml sets `{FLAG}: true`.",
        ),
        Valid(
            "aimet-onnx==2.20.0; sys_platform == 'win32'\n",
            path=REQUIREMENTS,
            package_files={
                "global_requirements.txt": "aimet-onnx==2.14.0; sys_platform == 'linux'\n"
            },
            note="The markers never hold together.",
        ),
        Valid(
            "torch==2.0.0\n",
            path=REQUIREMENTS,
            layout=Layout.MANIFEST,
            package_files={"scorecard/models/example/scorecard-config.yaml": f"{FLAG}: true\n"},
        ),
        Valid(
            "torch==2.0.0\n",
            path=REQUIREMENTS,
            note="No model folder of the tree has a code-gen.yaml (upstream's public tree): "
            "the opt-out is unpublished, not absent.",
        ),
    )
    invalid = (
        Invalid(
            "torch==2.0.0\n",
            path=REQUIREMENTS,
            fixed="torch==2.0.0\n",
            other_models=PUBLISHES_CODE_GEN,
            note=f"The fix creates code-gen.yaml with `{FLAG}: true`; requirements.txt "
            "stays as it is.",
        ),
        Invalid("numpy<1.20\n", path=REQUIREMENTS, other_models=PUBLISHES_CODE_GEN),
        Invalid(
            files={
                REQUIREMENTS: "torch==2.0.0\n",
                CODE_GEN: "# Settings for export.py\nis_aimet: true\n",
            },
            path=REQUIREMENTS,
            fixed="torch==2.0.0\n",
            note=f"code-gen.yaml exists: the fix appends `{FLAG}: true` after its last "
            "line, keeping the comment and the other keys.",
        ),
        Invalid(
            "torch==2.0.0\n",
            path=REQUIREMENTS,
            layout=Layout.MANIFEST,
            note="Manifest layout: the message names scorecard-config.yaml; no fix.",
        ),
    )

    shared_code = True

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        if self.folder.shared:
            self._check_shared(model)
            return
        if model.flag.value or model.flag.unknown:
            return
        fix = None
        for line, conflict in _conflicts(model):
            if fix is None:
                fix = _flag_fix(model)
            self.report_line(
                line,
                f"{_what(line, conflict)}: use a version global allows, or set `{FLAG}: "
                f"true` in {model.flag.display} to give this model its own environment",
                fix=fix,
            )

    def _check_shared(self, model: ModelRequirements) -> None:
        """Shared code's requirements are installed with the models that import it: a
        conflict matters when one of them is in the shared environment."""
        conflicts = _conflicts(model)
        if not conflicts:
            return
        users = [
            user
            for user in shared_code_users(self.folder)
            if not (flag := flag_state(user)).value and not flag.unknown
        ]
        if not users:
            return
        names = ", ".join(user.model_id for user in users[:3])
        more = f" and {len(users) - 3} more" if len(users) > 3 else ""
        for line, conflict in conflicts:
            self.report_line(
                line,
                f"{_what(line, conflict)}: models in the shared environment import this "
                f"code ({names}{more}); use a version global allows",
            )


def _conflicts(model: ModelRequirements) -> list[tuple[RequirementLine, Conflict]]:
    found = []
    for line in model.lines:
        if model.own(line) and (conflict := model.global_conflict(line)) is not None:
            found.append((line, conflict))
    return found


def _what(line: RequirementLine, conflict: Conflict) -> str:
    glob = conflict.other
    if line.pinned_version is not None:
        return (
            f"{quote(line)} does not satisfy global_requirements.txt's "
            f"`{glob.text}` (line {glob.row}){conflict.where()}"
        )
    return (
        f"no version satisfies both {quote(line)} and global_requirements.txt's "
        f"`{glob.text}` (line {glob.row}){conflict.where()}"
    )


def _already_global(line: RequirementLine, model: ModelRequirements) -> bool:
    """The line is in global_requirements.txt as it is: same package, same specifier, where
    the markers overlap. A model whose every line is already global adds nothing to the shared
    environment (not even transitive dependencies), so the flag cannot be needed for it."""
    if line.url is not None or not str(line.specifier) or model.global_reqs is None:
        return False
    if model.global_conflict(line) is not None:
        return False
    envs = active_envs(line.marker)
    return any(
        same_specifier(line.specifier, entry.specifier) and envs & active_envs(entry.marker)
        for entry in model.global_reqs.entries(line.name)
    )


class StaleIncompatibleFlag(LineRule):
    severity = Severity.WARNING
    summary = f"`{FLAG}: true` is set but none of the model's requirements needs it."
    why = (
        "The flag takes the model out of the shared environment and out of "
        "global_requirements.txt: tests then run it alone, and conflicts it would cause go "
        "unnoticed. It is reported only when it provably changes nothing: every requirement "
        "line is already in global_requirements.txt with the same specifier (so the model adds "
        "no package, and no transitive dependency, to the shared environment), and no setting "
        "that needs the flag is present (pip_install_flags, pip_pre_build_reqs, "
        "pre/post_pip_install_commands)."
    )
    fix_applicability = Applicability.SAFE
    fix_note = "Safe: deletes the flag's line from code-gen.yaml (manifest layout: no fix)."
    valid = (
        Valid(files={REQUIREMENTS: "torch==2.0.0\n", CODE_GEN: f"{FLAG}: true\n"}, path=CODE_GEN),
        Valid(
            files={REQUIREMENTS: "torch==2.4.1\n", CODE_GEN: f"{FLAG}: true\n"},
            path=CODE_GEN,
            note="Differs from global's `torch>=2.1,<2.9` text: upstream's generator would "
            "reject it without the flag.",
        ),
        Valid(
            files={
                REQUIREMENTS: "numpy>=1.26,<3\n",
                CODE_GEN: f"{FLAG}: true\npip_install_flags: --no-deps\n",
            },
            path=CODE_GEN,
        ),
        Valid(
            files={REQUIREMENTS: "numpy>=1.26,<3\nrfdetr==1.6.5\n", CODE_GEN: f"{FLAG}: true\n"},
            path=CODE_GEN,
            note="rfdetr is not in global: its own dependencies may need it.",
        ),
    )
    invalid = (
        Invalid(
            files={
                REQUIREMENTS: "numpy>=1.26,<3\n",
                CODE_GEN: f"is_aimet: true\n{FLAG}: true  # was needed for torch 2.0\n"
                "check_trace: false\n",
            },
            path=CODE_GEN,
            fixed="is_aimet: true\ncheck_trace: false\n",
        ),
        Invalid(
            files={CODE_GEN: f"{FLAG}: true\n"},
            path=CODE_GEN,
            fixed="",
            note="No requirements.txt at all.",
        ),
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        flag = model.flag
        if not flag.value or flag.unknown or flag.required_by or flag.source is None:
            return
        if model.is_directory or (
            model.source is not None
            and model.set is not None
            and (
                model.set.root.error is not None or model.set.problems or model.set.invalid_lines()
            )
        ):
            return
        if not all(_already_global(line, model) for line in model.lines):
            return
        fix = None
        if flag.in_folder and flag.document is not None:
            edit = remove_top_level_key(flag.source, flag.document, FLAG)
            if edit is not None:
                fix = Fix(Applicability.SAFE, f"Remove `{FLAG}` from {CODE_GEN}", (edit,))
        reason = (
            "the model has no requirements.txt"
            if model.source is None
            else "every requirement is already in global_requirements.txt as written"
        )
        self.report(
            flag.source,
            f"`{FLAG}: true` is not needed: {reason}; remove it so the "
            "model is tested in the shared environment",
            start=flag.location(),
            fix=fix,
        )
