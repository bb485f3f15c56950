"""The package-wide index, and its view from one model folder (which records what it read)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from qaihm_lint.index.model import ModuleInfo
from qaihm_lint.index.parse import summarise
from qaihm_lint.index.resolver import Resolver
from qaihm_lint.sources import SourceError
from qaihm_lint.workspace import PACKAGE_NAME, Layout, ModelFolder, Package


class FolderView(Resolver):
    """The index seen from one model folder: the folder's own files come from the folder
    object (pending fixes included); everything else from the shared index. Records every
    file outside the folder that a resolution read."""

    def __init__(self, index: RepoIndex, folder: ModelFolder) -> None:
        super().__init__(index.package_root)
        self.index = index
        self.folder = folder
        self.prefix = f"{PACKAGE_NAME}.models.{folder.module_suffix}"
        self.touched: set[str] = set()

    def module(self, name: str) -> ModuleInfo | None:
        if name == self.prefix or name.startswith(self.prefix + "."):
            if name not in self._modules:
                self._modules[name] = self._load_local(name)
            return self._modules[name]
        if name in self._modules:
            return self._modules[name]
        info = self.index.fresh_module(name)
        self._modules[name] = info  # one freshness check per module per view
        if info is not None:
            self.touched.add(info.path)
        return info

    def _load_local(self, name: str) -> ModuleInfo | None:
        relative = name[len(self.prefix) :].lstrip(".").replace(".", "/")
        candidates = (
            [(f"{relative}.py", False), (f"{relative}/__init__.py", True)]
            if relative
            else [("__init__.py", True)]
        )
        for file_name, is_package in candidates:
            source = self.folder.file(file_name)
            if source is None:
                continue
            try:
                if source.is_generated:
                    return None
                tree = source.tree
            except SourceError:
                return None
            return summarise(name, str(source.path), tree, source.digest, is_package)
        return None

    def module_of_file(self, file_name: str) -> str:
        stem = file_name[:-3] if file_name.endswith(".py") else file_name
        if stem == "__init__":
            return self.prefix
        return f"{self.prefix}.{stem.replace('/', '.')}"


class RepoIndex(Resolver):
    """The package-wide index (lazy; see the module docstring)."""

    def __init__(self, package_root: Path | None) -> None:
        super().__init__(package_root)
        # Views handed out in this process, by folder, until ``dependencies`` collects them.
        self._views: dict[str, list[FolderView]] = {}

    @classmethod
    def build(cls, package_root: Path | None) -> RepoIndex:
        index = cls(package_root)
        if package_root is not None:
            # The framework modules every folder reaches: load them once, before workers fork.
            for name in (
                "utils.base_model",
                "utils.base_collection_model",
                "models.protocols",
                "protocols",
                "utils.asset_loaders",
            ):
                index.module(f"{PACKAGE_NAME}.{name}")
        return index

    def view(self, folder: ModelFolder) -> FolderView:
        """The index seen from ``folder``. The views of a folder are remembered until
        ``dependencies`` collects what they read."""
        view = FolderView(self, folder)
        self._views.setdefault(str(folder.path), []).append(view)
        return view

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_views"] = {}  # per-run bookkeeping of this process, not part of the index
        return state

    # -- dependencies ------------------------------------------------------------------------

    def dependencies(self, model_folder: Path) -> set[str]:
        """Files outside the folder whose content the folder's findings depend on.

        After the folder's rules ran in this process, exactly the files their resolutions
        read (and forgets those views); otherwise the modules its classes inherit from and
        the modules its names are imported from, resolved now.
        """
        own = str(model_folder) + os.sep
        views = self._views.pop(str(model_folder), None)
        touched: set[str] = set()
        if views:
            for view in views:
                touched.update(view.touched)
        else:
            touched = self._collect(model_folder)
        return {p for p in touched if not p.startswith(own)}

    def _collect(self, model_folder: Path) -> set[str]:
        folder = ModelFolder(model_folder, Layout.INFO, None)
        view = FolderView(self, folder)
        collect_dependencies(view, folder)
        own = str(model_folder) + os.sep
        return {p for p in view.touched if not p.startswith(own)}

    def fingerprint(self, model_folder: Path) -> str:
        """A digest of every file outside the folder that the folder's findings depend on."""
        if self.package_root is None:
            return ""
        digest = hashlib.blake2b(digest_size=16)
        for path in sorted(self._collect(model_folder)):
            digest.update(path.encode() + b"\0")
            info = self._file_digest(path)
            digest.update(info.encode() + b"\0")
            # Patch files named relative to a dependency's own directory.
            patches = Path(path).parent / "patches"
            if patches.is_dir():
                digest.update(",".join(sorted(os.listdir(patches))).encode())
        return digest.hexdigest()

    def _file_digest(self, path: str) -> str:
        for info in self._modules.values():
            if info is not None and info.path == path:
                return info.digest
        try:
            return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
        except OSError:
            return "missing"

    def dependants(self, *paths: Path, among: Iterable[Path] | None = None) -> list[Path]:
        """The model folders (of ``among``, default all) whose findings depend on any of
        ``paths`` (files outside them)."""
        if self.package_root is None:
            return []
        targets = {str(path.resolve()) for path in paths}
        folders = Package(self.package_root).model_folders() if among is None else among
        return [
            folder
            for folder in folders
            if targets & {str(Path(p).resolve()) for p in self._collect(folder)}
        ]


def collect_dependencies(view: FolderView, folder: ModelFolder) -> None:
    """Touch, through ``view``, every module the folder's rules may consult."""
    for source in folder.python_files():
        name = source.path.name
        module = view.module(view.module_of_file(name))
        if module is None:
            continue
        for cls in [*module.classes.values(), *module.nested_classes]:
            mro = view.mro(cls)
            for owner in mro.classes:
                for component in owner.components:
                    found = view.resolve_class(owner.module, component)
                    if found is not None:
                        view.mro(found)
        for binding in module.bindings.values():
            if (
                binding.kind == "import"
                and binding.attr is not None
                and view.in_package(binding.module)
            ):
                symbol = view._resolve_attr(binding.module, binding.attr, 0)
                found = view.class_info(symbol)
                if found is not None:
                    view.mro(found)
