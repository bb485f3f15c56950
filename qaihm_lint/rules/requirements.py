"""A model's requirements.txt against global_requirements.txt and the other models (QAI301-306).

Models that do not set ``global_requirements_incompatible: true`` share one environment:
``global_requirements.txt`` plus every such model's requirements. Where that flag lives depends
on the layout: ``code-gen.yaml`` in the model folder (info.yaml layout) or
``qai_hub_models/scorecard/models/<id>/scorecard-config.yaml`` (manifest layout, where
code-gen.yaml is gone; the 0.65.0 wheel ships 81 of them with the flag).

Pins are compared with ``packaging``: a conflict is a version no release satisfies on both
sides, in some environment where both lines' markers hold (Python 3.10-3.13 on Linux, Windows
and macOS).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion

from qaihm_lint import requirements_file as rf
from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Applicability, Fix, Location, Severity
from qaihm_lint.fixers.text_fixes import (
    delete_line,
    remove_top_level_key,
    replace_in_line,
    set_top_level_true,
)
from qaihm_lint.requirements_file import RequirementLine, RequirementSet
from qaihm_lint.rules.base import FolderRule, Invalid, PackageRule, Valid
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout, ModelFolder, Package

REQUIREMENTS = "requirements.txt"
CODE_GEN = "code-gen.yaml"
SCORECARD_CONFIG = "scorecard-config.yaml"
FLAG = "global_requirements_incompatible"
# Settings that upstream only accepts together with the flag: it is never stale when one is set.
CODE_GEN_FLAG_DEPENDENTS = ("pip_install_flags", "pip_pre_build_reqs")
MANIFEST_FLAG_DEPENDENTS = ("pre_pip_install_commands", "post_pip_install_commands")


# ---------------------------------------------------------------------------------------------
# global_requirements.txt, parsed once per process per content.


@dataclass
class GlobalRequirements:
    source: SourceFile
    by_name: dict[str, list[RequirementLine]]

    def entries(self, name: str | None) -> list[RequirementLine]:
        return self.by_name.get(name, []) if name is not None else []


_GLOBAL_CACHE: dict[tuple[Path, str], GlobalRequirements | None] = {}


def load_global(package: Package | None) -> GlobalRequirements | None:
    if package is None:
        return None
    path = package.global_requirements
    try:
        if not path.is_file():
            return None
    except OSError:
        return None
    source = SourceFile(path)
    key = (path, source.digest)
    if key not in _GLOBAL_CACHE:
        parsed = rf.parse_source(source)
        result: GlobalRequirements | None = None
        if parsed.error is None:
            by_name: dict[str, list[RequirementLine]] = defaultdict(list)
            for line in parsed.requirements():
                by_name[line.name or ""].append(line)
            result = GlobalRequirements(source, dict(by_name))
        if len(_GLOBAL_CACHE) > 16:
            _GLOBAL_CACHE.clear()
        _GLOBAL_CACHE[key] = result
    return _GLOBAL_CACHE[key]


# ---------------------------------------------------------------------------------------------
# The incompatible flag.

# Examples: a sibling model with a code-gen.yaml, so that the tree publishes the flags.
PUBLISHES_CODE_GEN = {"published": {CODE_GEN: "supported_precisions:\n- float\n"}}


@dataclass
class FlagState:
    value: bool
    path: Path | None  # the file that holds (or would hold) the flag
    source: SourceFile | None  # that file, when it exists
    document: yamlfile.YamlDocument | None
    in_folder: bool  # fixes may edit it
    unknown: bool = False  # the file exists but cannot be read: rules stay silent
    required_by: str | None = None  # a setting that needs the flag whatever the pins say

    @property
    def display(self) -> str:
        if self.path is None:  # manifest layout outside a package
            return f"scorecard/models/<id>/{SCORECARD_CONFIG}"
        return (
            CODE_GEN
            if self.path.name == CODE_GEN
            else f"scorecard/models/{self.path.parent.name}/{SCORECARD_CONFIG}"
        )

    def location(self) -> Location:
        if self.document is not None:
            return self.document.location_of(FLAG)
        return Location(1, 1)


def _yaml_mapping(source: SourceFile | None) -> tuple[yamlfile.YamlDocument | None, bool]:
    """(document, readable). A missing file is readable and empty."""
    if source is None:
        return None, True
    try:
        document = yamlfile.load(source)
    except SourceError:
        return None, False
    if document.data is not None and not isinstance(document.data, dict):
        return None, False
    return document, True


def _is_true(value: object) -> bool:
    return value is True


def flag_state(folder: ModelFolder) -> FlagState:
    if folder.layout is Layout.MANIFEST:
        path = None
        source = None
        if folder.package is not None:
            path = folder.package.root / "scorecard" / "models" / folder.model_id / SCORECARD_CONFIG
            try:
                source = SourceFile(path) if path.is_file() else None
            except OSError:
                source = None
        document, readable = _yaml_mapping(source)
        data = document.data if document is not None and isinstance(document.data, dict) else {}
        state = FlagState(
            _is_true(data.get(FLAG)), path, source, document, in_folder=False, unknown=not readable
        )
        manifest = folder.file(Layout.MANIFEST.value)
        manifest_doc, _ = _yaml_mapping(manifest)
        if manifest_doc is not None and isinstance(manifest_doc.data, dict):
            for key in MANIFEST_FLAG_DEPENDENTS:
                if manifest_doc.data.get(key):
                    state.required_by = f"manifest.yaml sets `{key}`"
        return state
    source = folder.file(CODE_GEN)
    path = folder.path / CODE_GEN
    if source is None and folder.package is not None and not folder.package.publishes_code_gen():
        # The public repository and the wheels up to 0.46.1 ship no code-gen.yaml at all: a
        # model's opt-out is not absent there, it is unpublished. Rules stay silent.
        return FlagState(False, path, None, None, in_folder=True, unknown=True)
    if source is None and path.is_dir():
        return FlagState(False, path, None, None, in_folder=False, unknown=True)
    document, readable = _yaml_mapping(source)
    data = document.data if document is not None and isinstance(document.data, dict) else {}
    state = FlagState(
        _is_true(data.get(FLAG)), path, source, document, in_folder=True, unknown=not readable
    )
    for key in CODE_GEN_FLAG_DEPENDENTS:
        if data.get(key):
            state.required_by = f"{CODE_GEN} sets `{key}`"
    return state


# ---------------------------------------------------------------------------------------------
# One model's requirements.


@dataclass
class ModelRequirements:
    folder: ModelFolder
    source: SourceFile | None
    is_directory: bool
    set: RequirementSet | None
    global_reqs: GlobalRequirements | None
    flag: FlagState
    _conflicts: dict[int, Conflict | None] = field(default_factory=dict)

    @property
    def lines(self) -> list[RequirementLine]:
        return self.set.requirements() if self.set is not None else []

    def own(self, line: RequirementLine) -> bool:
        """Lines of files in the model folder (its own and those it includes from there)."""
        return line.path.parent == self.folder.path

    def global_conflict(self, line: RequirementLine) -> Conflict | None:
        key = id(line)
        if key not in self._conflicts:
            self._conflicts[key] = _global_conflict(line, self.global_reqs)
        return self._conflicts[key]


@dataclass
class Conflict:
    line: RequirementLine
    other: RequirementLine
    envs: frozenset[int]
    everywhere: bool  # in every environment where ``line`` applies

    def where(self) -> str:
        if self.everywhere:
            return ""
        first = rf.ENVIRONMENTS[min(self.envs)]
        return f" (on {rf.describe_env(first)})"


def _global_conflict(
    line: RequirementLine, global_reqs: GlobalRequirements | None
) -> Conflict | None:
    if global_reqs is None or line.name is None:
        return None
    line_envs = rf.active_envs(line.marker)
    for entry in global_reqs.entries(line.name):
        both = line_envs & rf.active_envs(entry.marker)
        if both and not rf.intersects(line.specifier, entry.specifier):
            return Conflict(line, entry, both, both == line_envs)
    return None


def model_requirements(
    folder: ModelFolder, memo: dict[str, object] | None = None
) -> ModelRequirements:
    if memo is not None:
        cached = memo.get("requirements")
        if isinstance(cached, ModelRequirements):
            return cached
    source = folder.file(REQUIREMENTS)
    is_directory = source is None and (folder.path / REQUIREMENTS).is_dir()
    requirement_set = None
    if source is not None:
        boundary = folder.package.root if folder.package is not None else folder.path

        def reader(path: Path) -> SourceFile | None:
            if path.parent == folder.path:
                return folder.file(path.name)
            try:
                return SourceFile(path) if path.is_file() else None
            except OSError:
                return None

        requirement_set = rf.load_set(source, boundary, reader)
    result = ModelRequirements(
        folder,
        source,
        is_directory,
        requirement_set,
        load_global(folder.package),
        flag_state(folder),
    )
    if memo is not None:
        memo["requirements"] = result
    return result


def _quote(line: RequirementLine) -> str:
    return f"`{line.text}`"


def _where(line: RequirementLine, folder: ModelFolder) -> str:
    if line.path.parent == folder.path:
        return f"{line.path.name} line {line.row}"
    return f"{line.path} line {line.row}"


# ---------------------------------------------------------------------------------------------
# QAI301


def _global_pin(line: RequirementLine, global_reqs: GlobalRequirements | None) -> str | None:
    """The one version global_requirements.txt pins for this package where the line applies."""
    if global_reqs is None:
        return None
    envs = rf.active_envs(line.marker)
    pins = {
        entry.pinned_version
        for entry in global_reqs.entries(line.name)
        if envs & rf.active_envs(entry.marker)
    }
    if len(pins) == 1:
        (pin,) = pins
        return pin
    return None


def _restates_global(line: RequirementLine, global_reqs: GlobalRequirements | None) -> bool:
    if global_reqs is None or not str(line.specifier):
        return False
    return any(
        rf.same_specifier(line.specifier, entry.specifier)
        for entry in global_reqs.entries(line.name)
    )


def _pin_fix(
    line: RequirementLine, specifier: str, message: str, applicability: Applicability
) -> Fix | None:
    span = rf.specifier_span(line)
    if span is None:
        return None
    start, end = span
    return Fix(applicability, message, (replace_in_line(line.row, start, end, specifier),))


def _satisfies(version: str, line: RequirementLine) -> bool:
    try:
        return line.specifier.contains(version, prereleases=True) if str(line.specifier) else True
    except InvalidVersion:
        return False


class _LineRule(FolderRule):
    """A rule whose findings sit on one requirement line."""

    def report_line(self, line: RequirementLine, message: str, *, fix: Fix | None = None) -> None:
        self.report(line.source, message, start=line.location(), end=line.end_location(), fix=fix)

    def report_exact_pin_wanted(
        self, line: RequirementLine, model: ModelRequirements, head: str, hint: str = ""
    ) -> None:
        """``head``, then global_requirements.txt's pin as the fix, or what to write."""
        name = _name(line)
        pinned = _global_pin_fix(line, model, name)
        if pinned is not None:
            pin, fix = pinned
            self.report_line(line, f"{head}; global_requirements.txt pins {pin}: use it", fix=fix)
            return
        self.report_line(
            line,
            f"{head}: pin the version the model was tested with, "
            f"{_suggested_pin(line, name)}{hint}",
        )


def _suggested_pin(line: RequirementLine, name: str) -> str:
    """``name==<version>`` with the line's environment markers kept."""
    marker = f"; {line.marker}" if line.marker is not None else ""
    return f"`{name}==<version>{marker}`"


def _global_pin_fix(
    line: RequirementLine, model: ModelRequirements, name: str
) -> tuple[str, Fix | None] | None:
    """global_requirements.txt's exact pin for the package, when the line allows it: the one
    version a fix may choose, since it comes from the tree and not from where the linter runs."""
    pin = _global_pin(line, model.global_reqs)
    if pin is None or not _satisfies(pin, line):
        return None
    message = f"Pin {name}=={pin} as global_requirements.txt does"
    return pin, _pin_fix(line, f"=={pin}", message, Applicability.SAFE)


def _name(line: RequirementLine) -> str:
    return line.requirement.name if line.requirement is not None else line.text


class UnpinnedRequirement(_LineRule):
    summary = (
        "A requirements.txt line names a package without any version; a git URL must name a "
        "full 40-hex commit."
    )
    why = (
        "A bare name installs whatever is newest on the day, so the model that passed CI is "
        "not the model users get; upstream pinned its bare `psutil` and `wmi` lines. A range "
        "is another matter: upstream keeps deliberate ranges for years (`torch>=2.6` for "
        "Hugging Face's safe loading, `torchaudio>=2.4.0,<2.10.0` in nine folders), so the "
        "guide's exact pins are QAI307, off by default."
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
            note="A range is a deliberate choice (QAI307 asks for exact pins, off by default).",
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
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        manifest = self.folder.layout is Layout.MANIFEST
        for line in model.lines:
            if not model.own(line) or line.is_pinned:
                continue
            if line.is_vcs:
                ref = f"`@{line.vcs_ref}`" if line.vcs_ref else "no `@<ref>`"
                self.report_line(
                    line,
                    f"{_quote(line)} is not pinned: the URL has {ref}; a branch or tag "
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
        name = _name(line)
        self.report_exact_pin_wanted(
            line,
            model,
            f"`{name}` has no version",
            f" (`pip show {name}` in its environment prints it)",
        )

    def _report_manifest(self, line: RequirementLine, model: ModelRequirements) -> None:
        name = _name(line)
        head = (
            f"`{name}` has no version specifier: add at least a lower bound "
            f"(`{name}>=<version>`) or pin it"
        )
        envs = rf.active_envs(line.marker)
        entries = [
            e
            for e in (model.global_reqs.entries(line.name) if model.global_reqs else [])
            if envs & rf.active_envs(e.marker)
        ]
        texts = {rf.specifier_text(e) for e in entries}
        if len(texts) == 1 and entries:
            (text,) = texts
            fix = _pin_fix(
                line, text, f"Use global_requirements.txt's `{name}{text}`", Applicability.SAFE
            )
            self.report_line(
                line,
                f"{head}; global_requirements.txt has `{name}{text}`: use it",
                fix=fix,
            )
            return
        self.report_line(line, head)


class InexactRequirement(_LineRule):
    summary = "A requirements.txt line allows a range of versions instead of pinning one (`==`)."
    why = (
        "The onboarding guide asks for exact pins, so that the model that passed CI is the "
        "model users get. Upstream keeps many deliberate ranges (136 of the 371 lines of "
        "0.46.1), so this is off by default: enable it where your project follows the guide's "
        "letter. A line that restates global_requirements.txt's specifier is accepted (the "
        "shared environment governs that version)."
    )
    layouts = frozenset({Layout.INFO})
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
    )
    invalid = (
        Invalid(
            "timm>=1.0  # backbone\n",
            path=REQUIREMENTS,
            package_files={"global_requirements.txt": "timm==1.0.15\n"},
            fixed="timm==1.0.15  # backbone\n",
        ),
        Invalid("loguru>=0.7.3\n", path=REQUIREMENTS),
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        for line in model.lines:
            if not model.own(line) or line.is_pinned or line.is_vcs or line.url is not None:
                continue
            if not str(line.specifier) or _restates_global(line, model.global_reqs):
                continue
            head = f"`{_name(line)}` allows a range (`{rf.specifier_text(line)}`)"
            self.report_exact_pin_wanted(line, model, head)


# ---------------------------------------------------------------------------------------------
# QAI302 / QAI303


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


class GlobalRequirementsConflict(_LineRule):
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

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        if model.flag.value or model.flag.unknown:
            return
        fix = None
        for line in model.lines:
            if not model.own(line):
                continue
            conflict = model.global_conflict(line)
            if conflict is None:
                continue
            if fix is None:
                fix = _flag_fix(model)
            glob = conflict.other
            if line.pinned_version is not None:
                what = (
                    f"{_quote(line)} does not satisfy global_requirements.txt's "
                    f"`{glob.text}` (line {glob.row}){conflict.where()}"
                )
            else:
                what = (
                    f"no version satisfies both {_quote(line)} and global_requirements.txt's "
                    f"`{glob.text}` (line {glob.row}){conflict.where()}"
                )
            self.report_line(
                line,
                f"{what}: use a version global allows, or set `{FLAG}: "
                f"true` in {model.flag.display} to give this model its own environment",
                fix=fix,
            )


def _already_global(line: RequirementLine, model: ModelRequirements) -> bool:
    """The line is in global_requirements.txt as it is: same package, same specifier, where
    the markers overlap. A model whose every line is already global adds nothing to the shared
    environment (not even transitive dependencies), so the flag cannot be needed for it."""
    if line.url is not None or not str(line.specifier) or model.global_reqs is None:
        return False
    if model.global_conflict(line) is not None:
        return False
    envs = rf.active_envs(line.marker)
    return any(
        rf.same_specifier(line.specifier, entry.specifier) and envs & rf.active_envs(entry.marker)
        for entry in model.global_reqs.entries(line.name)
    )


class StaleIncompatibleFlag(_LineRule):
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


# ---------------------------------------------------------------------------------------------
# QAI304 / QAI305


class InvalidRequirement(_LineRule):
    summary = (
        "A requirements.txt line pip cannot read: not PEP 508, an unknown option, a "
        "broken `-r` include, or a file that is not UTF-8 text."
    )
    why = (
        "`pip install -r` stops at the first line it cannot parse, so every later "
        "requirement of the model is never installed."
    )
    valid = (
        Valid(
            "# pinned for the tokenizer\nnumpy==1.26.4 ; python_version >= '3.10'\n"
            "--extra-index-url https://download.pytorch.org/whl/cpu\n-r extra.txt\n",
            path=REQUIREMENTS,
            files={"extra.txt": "einops==0.3.2\n"},
        ),
    )
    invalid = (
        Invalid("numpy = 1.26\n", path=REQUIREMENTS),
        Invalid("--bogus-option\n", path=REQUIREMENTS),
        Invalid("-r missing.txt\n", path=REQUIREMENTS),
        Invalid(
            "-r requirements.txt\n",
            path="extra.txt",
            files={REQUIREMENTS: "-r extra.txt\n"},
            note="An include cycle: reported on the line that closes it.",
        ),
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        if model.is_directory:
            self.report(
                self.folder.path / REQUIREMENTS,
                f"{REQUIREMENTS} is a directory, not "
                "a requirements file: pip cannot read it; make it a file or remove it",
                anchor="directory",
            )
            return
        if model.set is None:
            return
        if model.set.root.error is not None:
            error = model.set.root.error
            self.report(
                model.set.root.source,
                f"{REQUIREMENTS} {error}: pip cannot read it; save it as UTF-8 text",
                start=error.location,
                anchor=str(error),
            )
            return
        for line in model.set.invalid_lines():
            if not model.own(line):
                continue
            self.report_line(
                line,
                f"{line.path.name} line {line.row} is not a valid "
                f"requirement: {line.error}; write `name[extras]<specifier> ; marker`",
            )
        for problem in model.set.problems:
            line = problem.line
            if model.own(line):
                self.report_line(
                    line,
                    f"{problem.message}: pip cannot install from it",
                )


def _identity(line: RequirementLine) -> tuple[object, ...]:
    requirement = line.requirement
    if requirement is None:
        return (line.text,)
    return (
        line.name,
        tuple(sorted(requirement.extras)),
        frozenset(str(s) for s in requirement.specifier),
        str(requirement.marker or ""),
        requirement.url or "",
    )


class DuplicateRequirement(_LineRule):
    summary = "One package is required twice (where the two lines' markers overlap)."
    why = (
        "Two lines for one package are either redundant or contradict each other; pip "
        "combines them silently, and a later edit to one line leaves the other behind."
    )
    fix_applicability = Applicability.SAFE
    fix_note = "Safe when both lines require the same thing: the later line is deleted."
    valid = (
        Valid(
            "onnxsim==0.4.36; python_version<'3.12'\nonnxsim==0.4.35; python_version>='3.12'\n",
            path=REQUIREMENTS,
            note="Markers that never hold together.",
        ),
    )
    invalid = (
        Invalid(
            "numpy==1.26.4\neinops==0.3.2\nNumPy==1.26.4\n",
            path=REQUIREMENTS,
            fixed="numpy==1.26.4\neinops==0.3.2\n",
        ),
        Invalid("ruamel_yaml==0.18.10\nruamel.yaml==0.18.6\n", path=REQUIREMENTS),
    )

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        seen: dict[str, list[RequirementLine]] = defaultdict(list)
        for line in model.lines:
            name = line.name
            if name is None:
                continue
            envs = rf.active_envs(line.marker)
            earlier = next((e for e in seen[name] if envs & rf.active_envs(e.marker)), None)
            seen[name].append(line)
            if earlier is None or not model.own(line):
                continue
            same = _identity(earlier) == _identity(line)
            fix = None
            if same and line.row == line.end_row and line.comment in ("", earlier.comment):
                fix = Fix(
                    Applicability.SAFE,
                    "Remove the repeated line",
                    (delete_line(line.source, line.row),),
                )
            relation = "repeats" if same else "conflicts with or overlaps"
            self.report_line(
                line,
                f"{_quote(line)} {relation} {_quote(earlier)} "
                f"({_where(earlier, self.folder)}): keep one line per package",
                fix=fix,
            )


# ---------------------------------------------------------------------------------------------
# QAI306


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
        envs = rf.active_envs(line.marker)
        out: dict[str, RequirementLine] = {}
        for other_model, other in entries:
            other_id = other_model.folder.model_id
            if other_id == model.folder.model_id or other_id in out:
                continue
            if envs & rf.active_envs(other.marker) and not rf.intersects(
                line.specifier, other.specifier
            ):
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
            f"{_quote(line)} cannot be installed together with `{first.text}` required by "
            f"model {first_id} ({first.path.name} line {first.row}){more}: both share "
            f"global_requirements.txt's environment; agree on one version, or set `{FLAG}: "
            f"true` for one of them",
            start=line.location(),
            end=line.end_location(),
        )


__all__ = [
    "CrossModelRequirementConflict",
    "DuplicateRequirement",
    "GlobalRequirementsConflict",
    "InvalidRequirement",
    "StaleIncompatibleFlag",
    "UnpinnedRequirement",
    "model_requirements",
]
