"""Which environment each model runs in, the way upstream's CI decides it.

Upstream's CI (``scripts/tasks/test.py``) runs every model that does not set
``global_requirements_incompatible: true`` in one venv holding the package's requirements and
``global_requirements.txt``, and gives each opted-out model a fresh venv with the package's
requirements plus the model's own ``requirements.txt`` (after ``pip_pre_build_reqs``, with
``pip_install_flags``). A model whose ``python_version_*`` bounds exclude the interpreter is
skipped there, and here.

The flag lives in ``code-gen.yaml`` (info layout) or ``scorecard/models/<id>/
scorecard-config.yaml`` (manifest layout). Trees that publish neither (the wheels up to 0.46.1,
and upstream's public git) are decided from the requirements instead: a model whose
requirements conflict with ``global_requirements.txt`` under this interpreter's markers, or
that needs a package the global file does not list, cannot share the global environment (the
global file is generated from exactly the models that share it).

torch, torchvision and torchaudio are never taken from the package's pins: they are the build
the user installed (CPU or GPU, several GB), layered into every environment (see
``envbuild``), so a requirement line naming one keeps only its name, extras and marker. onnx and
onnxruntime are shared the same way only where every pin of the environment accepts the
invoking version; otherwise the environment installs what the tree pins (0.65.0 pins
``onnx<=1.18.0``, and forcing a newer onnx makes its global environment unsatisfiable).

Besides its requirement files, every environment installs the package's declared dependencies
(``package_deps``), as upstream's CI does by installing the package. ``EnvSpec.key`` digests
everything that determines an environment; an unchanged key reuses the built environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion

from qaihm_lint import requirements_file as rf
from qaihm_lint import yamlfile
from qaihm_lint.deep.base_env import (
    COMPANIONS,
    LAYERED,
    SHARED_WHEN_ALLOWED,
    BaseInterpreter,
)
from qaihm_lint.deep.package_deps import declared_source
from qaihm_lint.requirements_file import RequirementLine
from qaihm_lint.rules._settings import CODE_GEN, FLAG
from qaihm_lint.rules.requirements import (
    flag_state,
    load_global,
    model_requirements,
)
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout, ModelFolder, Package

ENV_FORMAT = 2  # 2: bytecode compiled at build time
# The stack the user chose when installing the [deep] extra: CPU (or GPU) builds we must not
# replace with whatever a package pins, and must not download again per environment.
PACKAGE_REQUIREMENTS = "requirements.txt"
PYTHON_BOUNDS = (
    ("python_version_greater_than_or_equal_to", ">="),
    ("python_version_less_than", "<"),
)


@dataclass(frozen=True)
class RequirementsText:
    label: str  # where it came from, for messages ("global_requirements.txt")
    text: str  # what uv is given, after relaxing the layered packages' pins


@dataclass(frozen=True)
class EnvSpec:
    name: str  # "global" or the model id of an opted-out model
    files: tuple[RequirementsText, ...]
    pre_build: tuple[str, ...] = ()
    pip_flags: tuple[str, ...] = ()
    relaxed: tuple[str, ...] = ()  # "torch>=2.4,<2.9.0" lines whose pins were dropped
    key: str = ""
    # The invoking environment's distributions this one shares (None: all of them); the
    # others of LAYERED are installed as the files pin them.
    layered: tuple[str, ...] | None = None
    installed: tuple[str, ...] = ()  # SHARED_WHEN_ALLOWED names the tree's pins keep apart
    # torch companions a file asks for that the invoking environment lacks ("torchaudio
    # (global_requirements.txt)"): the index's build would not load beside the user's torch.
    unmatched: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return f"{self.name} ({self.key[:8]})"


@dataclass(frozen=True)
class EnvSkip:
    """The model cannot run under this interpreter at all (upstream's CI skips it too)."""

    message: str


@dataclass
class EnvPlan:
    base: BaseInterpreter
    by_model: dict[str, EnvSpec | EnvSkip] = field(default_factory=dict)

    def unmatched(self) -> str | None:
        """Why the plan cannot be built from the invoking environment, or None: a tree's file
        asks for a torch companion that is not installed beside torch."""
        missing = sorted({item for spec in self.specs() for item in spec.unmatched})
        if not missing:
            return None
        torch = self.base.version("torch") or "?"
        return (
            f"the checked tree needs {', '.join(missing)}, which is not installed beside torch "
            f"{torch} in {self.base.executable}: the index's build would not load beside this "
            "torch, so install one built with it there (the [deep] extra installs a matched "
            "torchvision; torchaudio is released behind torch, so pick a torch release it "
            "has, e.g. torch 2.9.1 + torchvision 0.24.1 + torchaudio 2.9.1)"
        )

    def specs(self) -> list[EnvSpec]:
        unique = {spec.key: spec for spec in self.by_model.values() if isinstance(spec, EnvSpec)}
        return [unique[key] for key in sorted(unique)]


# ---------------------------------------------------------------------------------------------
# Requirement files as uv gets them.


def _applies(line: RequirementLine, markers: Mapping[str, str]) -> bool:
    if line.marker is None:
        return True
    try:
        return bool(line.marker.evaluate({**markers, "extra": ""}))
    except Exception:  # an undefined or malformed marker: let the installer judge it
        return True


def relax(
    lines: Iterable[RequirementLine], shared: Iterable[str] = LAYERED
) -> tuple[str, list[str]]:
    """The lines as uv should read them (one include level flattened), and the relaxed ones.

    A ``shared`` package keeps its name, extras and marker: its version is the invoking
    environment's, whatever the line pins.
    """
    keep = frozenset(shared)
    out: list[str] = []
    relaxed: list[str] = []
    for line in lines:
        if line.error is not None:
            out.append(line.text)  # uv reports it in its own words
            continue
        if line.option is not None:
            if line.option in ("-r", "--requirement"):
                continue  # the included file's lines follow in ``ordered``
            if line.option in ("-c", "--constraint") and line.option_value:
                out.append(f"-c {(line.path.parent / line.option_value).resolve()}")
                continue
            out.append(line.text)
            continue
        requirement = line.requirement
        assert requirement is not None
        name = rf.normalize(requirement.name)
        if name in keep and requirement.url is None:
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            marker = f" ; {requirement.marker}" if requirement.marker is not None else ""
            out.append(f"{requirement.name}{extras}{marker}")
            if str(requirement.specifier):
                relaxed.append(line.text)
            continue
        out.append(line.text)
    return "\n".join(out) + "\n", relaxed


def shareable(
    base: BaseInterpreter, lines: Iterable[RequirementLine], markers: Mapping[str, str]
) -> tuple[str, ...]:
    """The LAYERED names the environment of ``lines`` shares with the invoking one.

    torch and its companions always (the user's build); onnx and onnxruntime only when every
    line that applies here accepts the installed version.
    """
    refused: set[str] = set()
    for line in lines:
        name = line.name
        if name not in SHARED_WHEN_ALLOWED or not _applies(line, markers):
            continue
        version = base.version(name)
        requirement = line.requirement
        if version is None or requirement is None:
            continue
        if requirement.url is not None or not line.specifier.contains(version, prereleases=True):
            refused.add(name)
    return tuple(name for name in LAYERED if base.version(name) is not None and name not in refused)


def _file_lines(source: SourceFile, boundary: Path) -> list[RequirementLine]:
    parsed = rf.load_set(source, boundary)
    # A line that would make uv read a file outside the package never reaches it (QAI304).
    refused = {id(problem.line) for problem in parsed.problems}
    return [line for line in parsed.ordered if id(line) not in refused]


def _source(path: Path) -> SourceFile | None:
    try:
        return SourceFile(path) if path.is_file() else None
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Per-model decisions.


def _settings(folder: ModelFolder) -> dict[str, object]:
    """The model's code-gen settings: code-gen.yaml, or manifest.yaml in the manifest layout."""
    name = Layout.MANIFEST.value if folder.layout is Layout.MANIFEST else CODE_GEN
    source = folder.file(name)
    if source is None:
        return {}
    try:
        data = yamlfile.load(source).data
    except SourceError:
        return {}
    return data if isinstance(data, dict) else {}


def python_skip(folder: ModelFolder, version: str) -> EnvSkip | None:
    settings = _settings(folder)
    for key, operator in PYTHON_BOUNDS:
        bound = settings.get(key)
        if bound is None:
            continue
        try:
            allowed = SpecifierSet(f"{operator}{bound}").contains(version, prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            continue
        if not allowed:
            reason = settings.get(f"{key}_reason")
            why = f" ({reason})" if isinstance(reason, str) and reason else ""
            return EnvSkip(
                f"needs Python {operator}{bound}{why}; this run's interpreter is Python "
                f"{version}: run qaihm-lint under a matching Python to check it (upstream's CI "
                "skips it the same way)."
            )
    return None


def incompatible_with_global(folder: ModelFolder, markers: Mapping[str, str]) -> str | None:
    """Why the model cannot share the global environment, or None when it can."""
    state = flag_state(folder)
    if state.source is not None and not state.unknown:
        return f"{state.display} sets {FLAG}" if state.value else None
    if state.required_by:
        return state.required_by
    model = model_requirements(folder)
    global_reqs = model.global_reqs
    if global_reqs is None:
        return None
    for line in model.lines:
        name = line.name
        if name is None or name in LAYERED or not _applies(line, markers):
            continue
        entries = [entry for entry in global_reqs.entries(name) if _applies(entry, markers)]
        if not entries:
            return f"requirements.txt needs {name}, which global_requirements.txt does not list"
        for entry in entries:
            if not rf.intersects(line.specifier, entry.specifier):
                return (
                    f"requirements.txt `{line.text}` conflicts with global_requirements.txt "
                    f"`{entry.text}`"
                )
    return None


def _key(base: BaseInterpreter, spec: EnvSpec) -> str:
    layered = [d for d in base.dists if spec.layered is None or d.name in spec.layered]
    payload = {
        "format": ENV_FORMAT,
        "python": [str(Path(base.executable)), base.python_version],
        "layered": [[d.name, d.version, d.site] for d in layered],
        "files": [[f.label, f.text] for f in spec.files],
        "pre_build": list(spec.pre_build),
        "pip_flags": list(spec.pip_flags),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _with_key(base: BaseInterpreter, spec: EnvSpec) -> EnvSpec:
    return dataclasses.replace(spec, key=_key(base, spec))


def _split_words(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        return ()
    try:
        return tuple(shlex.split(value))
    except ValueError:
        return tuple(value.split())


RawFile = tuple[str, list[RequirementLine]]  # (label, the lines as the file has them)


class Planner:
    """Decides each model's environment; one instance per run (global specs are shared)."""

    def __init__(self, base: BaseInterpreter) -> None:
        self.base = base
        self._package_files: dict[Path, list[RawFile]] = {}
        self._global: dict[Path, EnvSpec] = {}

    def _package(self, package: Package) -> list[RawFile]:
        """The package's requirements.txt and its declared dependencies (package_deps)."""
        root = package.root
        if root not in self._package_files:
            files: list[RawFile] = []
            source = _source(root / PACKAGE_REQUIREMENTS)
            if source is not None:
                files.append((f"qai_hub_models/{PACKAGE_REQUIREMENTS}", _file_lines(source, root)))
            declared = declared_source(root, self.base.markers)
            if declared is not None:
                label = declared.path.as_posix()
                with contextlib.suppress(ValueError):
                    label = declared.path.relative_to(root.parent).as_posix()
                files.append((label, list(rf.parse_source(declared).lines)))
            self._package_files[root] = files
        return self._package_files[root]

    def _spec(
        self,
        name: str,
        raw: Sequence[RawFile],
        pre_build: tuple[str, ...] = (),
        pip_flags: tuple[str, ...] = (),
    ) -> EnvSpec:
        shared = shareable(
            self.base, (line for _, lines in raw for line in lines), self.base.markers
        )
        files: list[RequirementsText] = []
        relaxed: list[str] = []
        for label, lines in raw:
            text, dropped = relax(lines, shared)
            files.append(RequirementsText(label, text))
            relaxed.extend(dropped)
        installed = tuple(
            n for n in SHARED_WHEN_ALLOWED if self.base.version(n) is not None and n not in shared
        )
        unmatched = tuple(
            dict.fromkeys(
                f"{line.name} ({label})"
                for label, lines in raw
                for line in lines
                if line.name in COMPANIONS
                and self.base.version(line.name) is None
                and _applies(line, self.base.markers)
            )
        )
        layered = tuple(
            dist.name
            for dist in self.base.dists
            if dist.name in shared or (dist.name not in LAYERED and "torch" in shared)
        )
        spec = EnvSpec(
            name,
            tuple(files),
            pre_build=pre_build,
            pip_flags=pip_flags,
            relaxed=tuple(dict.fromkeys(relaxed)),
            layered=layered,
            installed=installed,
            unmatched=unmatched,
        )
        return _with_key(self.base, spec)

    def global_spec(self, package: Package) -> EnvSpec:
        if package.root not in self._global:
            raw = list(self._package(package))
            global_reqs = load_global(package)
            if global_reqs is not None:
                raw.append(
                    ("global_requirements.txt", _file_lines(global_reqs.source, package.root))
                )
            self._global[package.root] = self._spec("global", raw)
        return self._global[package.root]

    def model_spec(self, folder: ModelFolder) -> EnvSpec:
        package = folder.package
        assert package is not None
        raw = list(self._package(package))
        model = model_requirements(folder)
        if model.source is not None:
            raw.append(
                (
                    f"models/{folder.model_id}/requirements.txt",
                    _file_lines(model.source, package.root),
                )
            )
        settings = _settings(folder)
        return self._spec(
            folder.model_id,
            raw,
            pre_build=_split_words(settings.get("pip_pre_build_reqs")),
            # uv always builds with PEP 517 and refuses pip's flag for it (upstream drops it too).
            pip_flags=_safe_flags(
                _split_words(settings.get("pip_install_flags")), folder.path, package.root
            ),
        )

    def choose(self, folder: ModelFolder) -> EnvSpec | EnvSkip:
        assert folder.package is not None
        skip = python_skip(folder, self.base.python_version)
        if skip is not None:
            return skip
        if incompatible_with_global(folder, self.base.markers) is not None:
            return self.model_spec(folder)
        return self.global_spec(folder.package)


def _safe_flags(flags: Sequence[str], folder: Path, boundary: Path) -> tuple[str, ...]:
    """The model's pip flags as uv gets them: none at all when one of them would make it read
    a file outside the package (QAI304 reports it), and never pip's --use-pep517 (uv always
    builds with PEP 517 and refuses the flag; upstream drops it too)."""
    if rf.unsafe_pip_flags(list(flags), folder, boundary):
        return ()
    return tuple(flag for flag in flags if flag != "--use-pep517")


def plan_environments(folders: Sequence[ModelFolder], base: BaseInterpreter) -> EnvPlan:
    planner = Planner(base)
    plan = EnvPlan(base)
    for folder in folders:
        if folder.package is None or folder.is_card_only:
            continue
        plan.by_model[folder.model_id] = planner.choose(folder)
    return plan
