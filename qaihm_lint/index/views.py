"""The package-wide index, and its view from one model folder (which records what it read)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qaihm_lint.index.model import ModuleInfo
from qaihm_lint.index.parse import summarise
from qaihm_lint.index.resolver import Resolver
from qaihm_lint.sources import SourceError, note_access, recording_reads
from qaihm_lint.workspace import PACKAGE_NAME, Layout, ModelFolder, Package


class FolderView(Resolver):
    """The index seen from one model folder: the folder's own files come from the folder
    object (pending fixes included); everything else from the shared index. Records every
    file outside the folder that a resolution reads (``sources.note_access``)."""

    def __init__(self, index: RepoIndex, folder: ModelFolder) -> None:
        super().__init__(index.package_root)
        self.index = index
        self.folder = folder
        self.prefix = f"{PACKAGE_NAME}.models.{folder.module_suffix}"

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
            note_access(Path(info.path))
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
        """The index seen from ``folder``."""
        return FolderView(self, folder)

    def dependencies(self, model_folder: Path) -> set[str]:
        """Files outside the folder that its classes and imported names resolve through (the
        files a check of the folder would note), resolved now."""
        folder = ModelFolder(model_folder, Layout.INFO, None)
        with recording_reads() as reads:
            collect_dependencies(FolderView(self, folder), folder)
        return {str(path) for path in reads if model_folder not in path.parents}

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
            if targets & {str(Path(p).resolve()) for p in self.dependencies(folder)}
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
