"""Find the package root and the model folders a run must check (DESIGN §2).

Nothing here parses Python: it only looks at names, a few bytes of file headers and the
directory structure, so it stays cheap enough for every pre-commit invocation.
"""

from __future__ import annotations

import enum
import fnmatch
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.sources import SourceFile, note_access

PACKAGE_NAME = "qai_hub_models"
GLOBAL_REQUIREMENTS = "global_requirements.txt"
CODE_GEN_YAML = "code-gen.yaml"
# Files the repository's code generator writes; model rules never parse them.
GENERATED_NAMES = frozenset(
    {
        "export.py",
        "test_generated.py",
        "evaluate.py",
        "conftest.py",
        "README.md",
        "perf.yaml",
        "numerics.yaml",
    }
)
# Folders of ``models/`` that hold code shared by models rather than models.
SHARED_CODE_DIRS = ("_shared", "templates")
# The code files the onboarding guide asks of every model folder.
CODE_FILES = ("model.py", "app.py", "demo.py", "test.py")
# A folder is a model when it holds at least one of these; otherwise (``templates/`` of the
# newer layout, empty or asset-only folders) it is a library or not ours.
MODEL_MARKERS = ("info.yaml", "manifest.yaml", *CODE_FILES)


class WorkspaceError(Exception):
    """A problem with the paths given: reported as one line, exit 2."""


class Layout(str, enum.Enum):
    INFO = "info.yaml"  # the onboarding guide's layout (<= 0.4x releases)
    MANIFEST = "manifest.yaml"  # manifest.yaml + external_repos/ (newer releases)


@dataclass
class ModelFolder:
    path: Path
    layout: Layout
    package: Package | None
    # Pending contents of files during a fix run (--diff never writes them); they shadow disk.
    overlay: Mapping[Path, bytes] = field(default_factory=dict, repr=False)
    _files: dict[str, SourceFile | None] = field(default_factory=dict, repr=False)
    # A folder of shared code (``models/_shared/<x>``, ``models/templates/<x>``), not a model:
    # only the rules about code run on it, and its findings are reported once, at its own path.
    shared: bool = False

    @property
    def model_id(self) -> str:
        """The model's id; for shared code, its path under ``models/`` (``_shared/yolo``)."""
        if self.shared and self.package is not None:
            return self.path.relative_to(self.package.models_dir).as_posix()
        return self.path.name

    def reopened(self, overlay: Mapping[Path, bytes]) -> ModelFolder:
        """The same folder with empty file caches, seeing ``overlay``."""
        return ModelFolder(self.path, self.layout, self.package, overlay, shared=self.shared)

    @property
    def module_suffix(self) -> str:
        """The folder's module under ``qai_hub_models.models``."""
        return self.model_id.replace("/", ".")

    def file(self, name: str) -> SourceFile | None:
        """The folder's file ``name`` (a relative path), or None when it does not exist."""
        if name not in self._files:
            path = self.path / name
            note_access(path)
            if path in self.overlay:
                self._files[name] = SourceFile(path, self.overlay[path])
            elif not _is_file(path) or not self.contains(path):
                # A symbolic link out of the repository is not the repository's file: it is
                # neither read, nor printed, nor fixed.
                self._files[name] = None
            else:
                self._files[name] = SourceFile(path)
        return self._files[name]

    def has(self, name: str) -> bool:
        return self.file(name) is not None

    def contains(self, path: Path) -> bool:
        """Whether ``path``, links resolved, stays inside the repository (the folder itself
        when it belongs to no package)."""
        boundary = self.package.repo_root if self.package is not None else self.path
        return inside(path, boundary)

    def names(self) -> list[str]:
        """Names of the entries directly in the folder (with files a pending fix creates)."""
        names = set(_list_names(self.path))
        names.update(p.name for p in self.overlay if p.parent == self.path)
        return sorted(names)

    def python_files(self) -> list[SourceFile]:
        """Hand-written Python files directly in the folder, in a stable order."""
        files = []
        for name in self.names():
            # Shared code has hand-written export.py / evaluate.py: only the header tells.
            if name.endswith(".py") and (self.shared or name not in GENERATED_NAMES):
                source = self.file(name)
                if source is not None and not source.is_generated:
                    files.append(source)
        return files

    def text_files(self) -> list[SourceFile]:
        """Files that may carry ``# noqa`` directives: hand-written Python, requirements, YAML."""
        files = []
        for name in self.names():
            if name in GENERATED_NAMES or not name.endswith((".py", ".txt", ".yaml", ".yml")):
                continue
            source = self.file(name)
            if source is not None and not source.is_generated:
                files.append(source)
        return files

    @property
    def is_card_only(self) -> bool:
        """A published model card: metadata (and maybe constants in ``__init__.py``) but none
        of the code files. Several released folders are exactly that (an LLM whose assets are
        hosted elsewhere): nothing to import or run, only their YAML is checked."""
        return not any(self.has(name) for name in CODE_FILES)


@dataclass
class Package:
    """A ``qai_hub_models`` directory."""

    root: Path
    _model_folders: list[Path] | None = field(default=None, repr=False, compare=False)
    _publishes_code_gen: bool | None = field(default=None, repr=False, compare=False)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def repo_root(self) -> Path:
        return self.root.parent

    @property
    def global_requirements(self) -> Path:
        return self.root / GLOBAL_REQUIREMENTS

    def model_folders(self) -> list[Path]:
        # Listed once per run: discovery and the cross-model rules both need it.
        if self._model_folders is None:
            models = self.models_dir
            found = []
            try:
                entries = list(os.scandir(models))
            except OSError:
                entries = []
            for entry in entries:
                if entry.name.startswith(("_", ".")):
                    continue
                try:
                    if entry.is_symlink() or not entry.is_dir():
                        continue
                except OSError:
                    continue
                names = set(_list_names(Path(entry.path)))
                if any(marker in names for marker in MODEL_MARKERS):
                    found.append(models / entry.name)
            self._model_folders = sorted(found)
        return list(self._model_folders)

    def shared_folders(self) -> list[Path]:
        """Folders of shared model code: every folder under ``models/_shared/`` (and the newer
        layout's ``models/templates/``) that holds Python files. A symbolic link to a folder
        is not followed (``templates -> ../../elsewhere`` is another project's code)."""
        found = []
        for top in SHARED_CODE_DIRS:
            start = self.models_dir / top
            if start.is_symlink() or not inside(start, self.repo_root):
                continue
            for directory, dirs, files in os.walk(start):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
                if any(_has_code(directory, name) for name in files):
                    found.append(Path(directory))
        return sorted(found)

    def publishes_code_gen(self) -> bool:
        """Whether any model folder has a code-gen.yaml. Upstream's public tree and its wheels
        up to 0.46.1 have none: the per-model settings (the requirements opt-out among them)
        are kept out of the published tree, so their absence says nothing."""
        if self._publishes_code_gen is None:
            self._publishes_code_gen = any(
                os.path.isfile(folder / CODE_GEN_YAML) for folder in self.model_folders()
            )
        return self._publishes_code_gen

    def default_layout(self) -> Layout:
        for folder in self.model_folders():
            if (folder / Layout.MANIFEST.value).is_file():
                return Layout.MANIFEST
            if (folder / Layout.INFO.value).is_file():
                return Layout.INFO
        return Layout.INFO


@dataclass
class Workspace:
    packages: list[Package]
    folders: list[ModelFolder]
    # PATHs that name no model folder (a file under utils/ or _shared/ that pre-commit passes):
    # not an error; the CLI checks the model folders that depend on them (changes.py).
    skipped: list[Path] = field(default_factory=list)
    # Folders of shared code to check with the code rules (not models).
    shared: list[ModelFolder] = field(default_factory=list)

    def checked(self) -> list[ModelFolder]:
        """Every folder a static run checks: the model folders, then shared code."""
        return [*self.folders, *self.shared]

    def reopened(
        self, overlay: Mapping[Path, bytes], only: Collection[Path] | None = None
    ) -> Workspace:
        """The same workspace seeing ``overlay``, with fresh file caches for the folders in
        ``only`` (every folder when None); this one is left as it was."""

        def fresh(folders: list[ModelFolder]) -> list[ModelFolder]:
            return [f.reopened(overlay) if only is None or f.path in only else f for f in folders]

        return Workspace(self.packages, fresh(self.folders), self.skipped, fresh(self.shared))


def inside(path: Path, boundary: Path) -> bool:
    """Whether ``path`` with every link resolved is ``boundary`` or below it."""
    try:
        real = Path(os.path.realpath(path))
        limit = Path(os.path.realpath(boundary))
    except (OSError, ValueError):
        return False
    return real == limit or limit in real.parents


def _list_names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _is_model_folder(path: Path) -> bool:
    if path.name.startswith(("_", ".")) or path.is_symlink() or not path.is_dir():
        return False
    names = set(_list_names(path))
    return any(marker in names for marker in MODEL_MARKERS)


def is_package_root(path: Path) -> bool:
    return path.name == PACKAGE_NAME and (
        (path / GLOBAL_REQUIREMENTS).is_file() or (path / "utils" / "base_model.py").is_file()
    )


def find_package_root(path: Path) -> Path | None:
    """Walk up from ``path`` to the enclosing ``qai_hub_models`` package (or the one below a
    repository root)."""
    current = path if path.is_dir() else path.parent
    child = current / PACKAGE_NAME
    if is_package_root(child):
        return child
    for candidate in (current, *current.parents):
        if is_package_root(candidate):
            return candidate
    return None


def _nearby_root(path: Path) -> str:
    """``scripts/`` beside the package: point at the repository root above, as the place to
    run from (ruff and git say where the project is too)."""
    start = path if path.is_dir() else path.parent
    for parent in start.parents:
        if is_package_root(parent / PACKAGE_NAME):
            shown = os.path.relpath(parent)
            return f"; the repository root is {shown}: run `qaihm-lint {shown}` or run it there"
    return ""


def _model_folder_of(package_root: Path, path: Path) -> Path | None:
    """The models/<id> folder that contains ``path``, if any."""
    try:
        relative = path.relative_to(package_root / "models")
    except ValueError:
        return None
    if not relative.parts:
        return None
    folder = package_root / "models" / relative.parts[0]
    return folder if _is_model_folder(folder) else None


def _looks_like_model_folder(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in MODEL_MARKERS)


def layout_of(folder: Path, package: Package | None) -> Layout:
    """The folder's own metadata file decides; without one, its siblings' layout."""
    if (folder / Layout.MANIFEST.value).is_file():
        return Layout.MANIFEST
    if (folder / Layout.INFO.value).is_file() or package is None:
        return Layout.INFO
    return package.default_layout()


def discover(paths: Sequence[Path], exclude: Iterable[str] = ()) -> Workspace:
    """Map the PATH arguments to model folders.

    PATH may be a repository root, the package, ``models/``, one model folder or single files (as
    pre-commit passes them). A path outside any package is linted standalone when it looks like a
    model folder; inheritance and global-requirements checks then have nothing to consult and
    stay silent.
    """
    packages: dict[Path, Package] = {}
    folders: dict[Path, Path | None] = {}  # folder -> package root
    shared: dict[Path, Path] = {}  # shared-code folder -> package root
    skipped: list[Path] = []
    excluded = set(exclude)

    def package_for(root: Path) -> Package:
        return packages.setdefault(root, Package(root))

    for raw in paths:
        if not os.path.lexists(raw):
            raise WorkspaceError(f"{raw}: no such file or directory")
        try:
            path = raw.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise WorkspaceError(f"{raw}: cannot be resolved ({exc})") from exc
        root = find_package_root(path)
        if root is None:
            if _looks_like_model_folder(path):
                folders.setdefault(path, None)
                continue
            if path.is_file() and _looks_like_model_folder(path.parent):
                folders.setdefault(path.parent, None)
                continue
            raise WorkspaceError(
                f"{raw}: not inside a {PACKAGE_NAME} package (no {PACKAGE_NAME}/"
                f"{GLOBAL_REQUIREMENTS} above it) and not a model folder{_nearby_root(path)}"
            )
        package = package_for(root)
        if path in (root, root.parent, package.models_dir) or path == root / GLOBAL_REQUIREMENTS:
            # The whole package; a changed global_requirements.txt affects every model.
            for model_folder in package.model_folders():
                folders.setdefault(model_folder, root)
            if path != root / GLOBAL_REQUIREMENTS:
                for shared_folder in package.shared_folders():
                    shared.setdefault(shared_folder, root)
            continue
        containing = _model_folder_of(root, path)
        if containing is None:
            # Shared code is checked itself; the path also stands for the model folders that
            # depend on it (see the CLI's dependants), so it is listed as skipped too.
            for shared_folder in _shared_folders_at(package, path):
                shared.setdefault(shared_folder, root)
            skipped.append(raw)
            continue
        folders.setdefault(containing, root)

    result = []
    for folder_path, package_root in sorted(folders.items(), key=lambda item: str(item[0])):
        if any(fnmatch.fnmatchcase(folder_path.name, pattern) for pattern in excluded):
            continue
        owner = packages[package_root] if package_root is not None else None
        result.append(ModelFolder(folder_path, layout_of(folder_path, owner), owner))
    shared_code = [
        ModelFolder(path, packages[root].default_layout(), packages[root], shared=True)
        for path, root in sorted(shared.items(), key=lambda item: str(item[0]))
    ]
    return Workspace(list(packages.values()), result, skipped, shared_code)


def _has_code(directory: str, name: str) -> bool:
    """A Python file with something in it (an empty ``__init__.py`` only marks a package)."""
    if not name.endswith(".py"):
        return False
    try:
        return name != "__init__.py" or os.path.getsize(os.path.join(directory, name)) > 0
    except OSError:
        return False


def _shared_folders_at(package: Package, path: Path) -> list[Path]:
    """The shared-code folders at or below ``path`` (a file picks its own folder)."""
    try:
        relative = path.relative_to(package.models_dir)
    except ValueError:
        return []
    if not relative.parts or relative.parts[0] not in SHARED_CODE_DIRS:
        return []
    if path.is_file():
        # Its code, or the requirements.txt the models that use it install.
        return [path.parent] if path.suffix == ".py" or path.name == "requirements.txt" else []
    return [f for f in package.shared_folders() if f == path or path in f.parents]
