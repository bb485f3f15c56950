"""What the requirements rules (QAI301-QAI307) share: a model's requirements, the shared
environment's, and the flag that takes a model out of it.

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

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.version import InvalidVersion

from qaihm_lint import requirements_file as rf
from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Applicability, Fix, Location
from qaihm_lint.fixers.text_fixes import replace_in_line
from qaihm_lint.requirements_file import RequirementLine, RequirementSet
from qaihm_lint.rules._settings import (
    CODE_GEN,
    CODE_GEN_FLAG_DEPENDENTS,
    FLAG,
    MANIFEST_FLAG_DEPENDENTS,
    SCORECARD_CONFIG,
    is_on,
)
from qaihm_lint.rules.base import FolderRule
from qaihm_lint.sources import SourceError, SourceFile, file_at
from qaihm_lint.specifiers import (
    ENVIRONMENTS,
    active_envs,
    describe_env,
    intersects,
    same_specifier,
)
from qaihm_lint.workspace import Layout, ModelFolder, Package, layout_of

REQUIREMENTS = "requirements.txt"

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
    source = file_at(path)
    if source is None:
        return None
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


def flag_state(folder: ModelFolder) -> FlagState:
    if folder.layout is Layout.MANIFEST:
        path = None
        source = None
        if folder.package is not None:
            path = folder.package.root / "scorecard" / "models" / folder.model_id / SCORECARD_CONFIG
            source = file_at(path)
        document, readable = _yaml_mapping(source)
        data = document.data if document is not None and isinstance(document.data, dict) else {}
        state = FlagState(
            is_on(data.get(FLAG)), path, source, document, in_folder=False, unknown=not readable
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
        is_on(data.get(FLAG)), path, source, document, in_folder=True, unknown=not readable
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
    # The folder's other requirements files (requirements-gpu.txt, ...), each its own
    # environment: the line rules (QAI301, QAI304, QAI305, QAI307) read them too; the shared
    # environment's rules (QAI302, QAI303, QAI306) read requirements.txt only.
    others: list[RequirementSet] = field(default_factory=list)

    @property
    def lines(self) -> list[RequirementLine]:
        return self.set.requirements() if self.set is not None else []

    @property
    def sets(self) -> list[RequirementSet]:
        """requirements.txt's set, then the other files'."""
        return ([self.set] if self.set is not None else []) + self.others

    @property
    def all_lines(self) -> list[RequirementLine]:
        return [line for requirement_set in self.sets for line in requirement_set.requirements()]

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
        first = ENVIRONMENTS[min(self.envs)]
        return f" (on {describe_env(first)})"


def _global_conflict(
    line: RequirementLine, global_reqs: GlobalRequirements | None
) -> Conflict | None:
    if global_reqs is None or line.name is None:
        return None
    line_envs = active_envs(line.marker)
    for entry in global_reqs.entries(line.name):
        both = line_envs & active_envs(entry.marker)
        if both and not intersects(line.specifier, entry.specifier):
            return Conflict(line, entry, both, both == line_envs)
    return None


def model_requirements(
    folder: ModelFolder, memo: dict[str, object] | None = None
) -> ModelRequirements:
    if memo is not None:
        cached = memo.get("requirements")
        if isinstance(cached, ModelRequirements):
            return cached
    source = folder.file(REQUIREMENTS) if _has_requirements(folder) else None
    is_directory = source is None and (folder.path / REQUIREMENTS).is_dir()
    boundary = folder.package.root if folder.package is not None else folder.path

    def reader(path: Path) -> SourceFile | None:
        if path.parent == folder.path:
            return folder.file(path.name)
        return file_at(path)

    requirement_set = rf.load_set(source, boundary, reader) if source is not None else None
    included = {f.source.path for f in requirement_set.files} if requirement_set else set()
    others = []
    for name in other_requirement_files(folder):
        other = folder.file(name)
        if other is not None and other.path not in included:
            others.append(rf.load_set(other, boundary, reader))
    result = ModelRequirements(
        folder,
        source,
        is_directory,
        requirement_set,
        load_global(folder.package),
        SHARED_FLAG if folder.shared else flag_state(folder),
        others=others,
    )
    if memo is not None:
        memo["requirements"] = result
    return result


# Shared code has no opt-out of its own: the models that use it decide (QAI302 asks them).
SHARED_FLAG = FlagState(False, None, None, None, in_folder=False)


def _has_requirements(folder: ModelFolder) -> bool:
    """A model folder, or shared code right under ``_shared/`` or ``templates/`` (what models
    import); deeper folders' files are tools' own (``llm/qdc/device_scripts``)."""
    return not folder.shared or len(PurePosixPath(folder.model_id).parts) == 2


def shared_code_users(folder: ModelFolder) -> list[ModelFolder]:
    """The model folders whose code imports the shared folder, directly or through other
    shared code (what installs its requirements.txt with theirs). Read only when a rule needs
    it; every file read is noted, so the cache knows what the answer depends on."""
    package = folder.package
    if package is None:
        return []
    pending = [folder.module_suffix]
    seen = set(pending)
    users: dict[Path, ModelFolder] = {}
    shared = [ModelFolder(p, folder.layout, package, shared=True) for p in package.shared_folders()]
    models = [ModelFolder(p, layout_of(p, package), package) for p in package.model_folders()]
    while pending:
        module = re.compile(rf"\bqai_hub_models\.models\.{re.escape(pending.pop())}\b")
        for candidate in [*models, *shared]:
            if candidate.path == folder.path or not any(
                module.search(_text(source)) for source in candidate.python_files()
            ):
                continue
            if candidate.shared:
                if candidate.module_suffix not in seen:
                    seen.add(candidate.module_suffix)
                    pending.append(candidate.module_suffix)
            else:
                users[candidate.path] = candidate
    return [users[path] for path in sorted(users)]


def _text(source: SourceFile) -> str:
    try:
        return source.text
    except SourceError:
        return ""


def other_requirement_files(folder: ModelFolder) -> list[str]:
    """A model folder's requirements files besides requirements.txt (``requirements-gpu.txt``
    for the GPU environment LLMs are quantized in). Shared code's requirements.txt is what
    the models using it install; its other files are tools' own (an LLM grader), not read."""
    if folder.shared:
        return []
    return [
        name
        for name in folder.names()
        if name != REQUIREMENTS and name.startswith("requirements") and name.endswith(".txt")
    ]


def quote(line: RequirementLine) -> str:
    return f"`{line.text}`"


def line_where(line: RequirementLine, folder: ModelFolder) -> str:
    if line.path.parent == folder.path:
        return f"{line.path.name} line {line.row}"
    return f"{line.path} line {line.row}"


# ---------------------------------------------------------------------------------------------
# QAI301


def _global_pin(line: RequirementLine, global_reqs: GlobalRequirements | None) -> str | None:
    """The one version global_requirements.txt pins for this package where the line applies."""
    if global_reqs is None:
        return None
    envs = active_envs(line.marker)
    pins = {
        entry.pinned_version
        for entry in global_reqs.entries(line.name)
        if envs & active_envs(entry.marker)
    }
    if len(pins) == 1:
        (pin,) = pins
        return pin
    return None


def pin_fix(
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


class LineRule(FolderRule):
    """A rule whose findings sit on one requirement line."""

    def report_line(self, line: RequirementLine, message: str, *, fix: Fix | None = None) -> None:
        self.report(line.source, message, start=line.location(), end=line.end_location(), fix=fix)

    def report_exact_pin_wanted(
        self, line: RequirementLine, model: ModelRequirements, head: str, hint: str = ""
    ) -> None:
        """``head``, then global_requirements.txt's pin as the fix, or what to write."""
        name = requirement_name(line)
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
    return pin, pin_fix(line, f"=={pin}", message, Applicability.SAFE)


def requirement_name(line: RequirementLine) -> str:
    return line.requirement.name if line.requirement is not None else line.text


def restates_global(line: RequirementLine, global_reqs: GlobalRequirements | None) -> bool:
    if global_reqs is None or not str(line.specifier):
        return False
    return any(
        same_specifier(line.specifier, entry.specifier) for entry in global_reqs.entries(line.name)
    )


__all__ = [
    "FLAG",
    "PUBLISHES_CODE_GEN",
    "REQUIREMENTS",
    "SHARED_FLAG",
    "Conflict",
    "FlagState",
    "GlobalRequirements",
    "LineRule",
    "ModelRequirements",
    "flag_state",
    "line_where",
    "load_global",
    "model_requirements",
    "other_requirement_files",
    "pin_fix",
    "quote",
    "requirement_name",
    "restates_global",
    "shared_code_users",
]
