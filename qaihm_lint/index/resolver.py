"""Name and class resolution over module summaries, the way Python's import system would
resolve them, statically."""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from qaihm_lint.index.model import Binding, ClassInfo, MethodInfo, ModuleInfo, Symbol
from qaihm_lint.index.mro import Mro, c3, is_framework
from qaihm_lint.index.parse import dotted, summarise
from qaihm_lint.sources import GENERATED_MARKER
from qaihm_lint.workspace import GENERATED_NAMES, PACKAGE_NAME

# Resolution gives up (the name stays unknown) past this many hops: alias chains and cyclic
# re-exports end there.
_MAX_DEPTH = 40
# The generated Python files of a model folder: summarised by nobody.
_GENERATED = frozenset(name for name in GENERATED_NAMES if name.endswith(".py"))


class Resolver:
    """Name and class resolution over module summaries (loaded by ``_load``)."""

    def __init__(self, package_root: Path | None) -> None:
        self.package_root = package_root
        self._modules: dict[str, ModuleInfo | None] = {}
        self._mros: dict[str, Mro] = {}
        self._stamps: dict[str, object] = {}
        # Texts that shadow the disk: the language server's unsaved buffers (a base class
        # being edited in _shared/ is resolved as the editor holds it).
        self.buffers: Mapping[Path, bytes] = {}

    # -- loading -----------------------------------------------------------------------------

    def module_path(self, name: str) -> tuple[Path, bool] | None:
        """The file of a package module (and whether it is a package's __init__)."""
        if self.package_root is None:
            return None
        parts = name.split(".")
        if parts[0] != PACKAGE_NAME:
            return None
        base = self.package_root.joinpath(*parts[1:])
        candidate = base.with_suffix(".py") if len(parts) > 1 else None
        if candidate is not None and candidate.is_file():
            return candidate, False
        init = base / "__init__.py"
        if init.is_file():
            return init, True
        return None

    def module_name(self, path: Path) -> str | None:
        if self.package_root is None:
            return None
        try:
            relative = path.relative_to(self.package_root)
        except ValueError:
            return None
        parts = [PACKAGE_NAME, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    def _load(self, name: str) -> ModuleInfo | None:
        found = self.module_path(name)
        if found is None:
            return None
        path, is_package = found
        if path.name in _GENERATED:
            return None
        data = self.buffers.get(path)
        try:
            data = path.read_bytes() if data is None else data
        except OSError:
            return None
        if GENERATED_MARKER.encode() in data[:2048]:
            return None
        try:
            tree = ast.parse(data, filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        self._stamps[str(path)] = self._stamp(path)
        return summarise(name, str(path), tree, digest, is_package, keep_nodes=False)

    def definition(self, owner: ClassInfo, method: MethodInfo) -> ast.stmt | None:
        """The AST node of ``method`` as ``owner`` defines it. The folder's own summaries keep
        it; those of the modules outside do not, so the owner's file is parsed again here (only
        when a rule needs the body of a definition from outside the folder)."""
        if method.node is not None:
            return method.node
        module = self.module(owner.module)
        if module is None:
            return None
        again = _with_nodes(module, self.buffers.get(Path(module.path)))
        if again is None:
            return None
        for cls in [*again.classes.values(), *again.nested_classes]:
            if cls.name == owner.name and cls.lineno == owner.lineno:
                found = cls.methods.get(method.name)
                if found is not None and found.lineno == method.lineno:
                    return found.node
        return None

    def module(self, name: str) -> ModuleInfo | None:
        if name not in self._modules:
            self._modules[name] = self._load(name)
        return self._modules[name]

    def fresh_module(self, name: str) -> ModuleInfo | None:
        """``module``, re-read when its file changed since it was summarised (a long-lived
        process, or a test that edits a shared base between runs): one stat per call."""
        info = self._modules.get(name)
        if info is not None and self._stamp(Path(info.path)) != self._stamps.get(info.path):
            del self._modules[name]
            self._mros.clear()
        return self.module(name)

    def _stamp(self, path: Path) -> object:
        """What tells that a module's text changed: its buffer's digest, or its file's
        modification time and size."""
        data = self.buffers.get(path)
        if data is not None:
            return hashlib.blake2b(data, digest_size=16).hexdigest()
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def in_package(self, name: str) -> bool:
        return name == PACKAGE_NAME or name.startswith(PACKAGE_NAME + ".")

    # -- names -------------------------------------------------------------------------------

    def resolve(self, module: str, name: str, _depth: int = 0) -> Symbol:
        """What ``name`` (dotted) means in ``module``."""
        if not name:
            return Symbol("unknown")
        head, _, rest = name.partition(".")
        symbol = self._resolve_attr(module, head, _depth)
        while rest and symbol.kind in ("module", "external"):
            part, _, rest = rest.partition(".")
            if symbol.kind == "external":
                symbol = Symbol("external", qualified=f"{symbol.qualified}.{part}")
            else:
                symbol = self._resolve_attr(symbol.module, part, _depth + 1)
        if rest:
            return (
                Symbol("unknown")
                if symbol.kind != "class"
                else Symbol("unknown", symbol.module, f"{symbol.name}.{rest}")
            )
        return symbol

    def _resolve_attr(self, module: str, attr: str, depth: int) -> Symbol:
        """``module.attr``: a binding of the module, else a submodule."""
        if depth > _MAX_DEPTH:
            return Symbol("unknown")
        if not self.in_package(module):
            return Symbol("external", qualified=f"{module}.{attr}" if module else attr)
        info = self.module(module)
        if info is not None:
            binding = info.bindings.get(attr)
            if binding is not None:
                return self._follow(info, attr, binding, depth)
        submodule = f"{module}.{attr}"
        if self.module(submodule) is not None:
            return Symbol("module", submodule)
        if info is not None:
            for star in info.star_imports:
                found = self._resolve_attr(star, attr, depth + 1)
                if found.kind != "unknown":
                    return found
        return Symbol("unknown", module, attr)

    def _follow(self, info: ModuleInfo, attr: str, binding: Binding, depth: int) -> Symbol:
        if binding.kind == "class":
            return Symbol("class", info.name, attr)
        if binding.kind == "function":
            return Symbol("function", info.name, attr)
        if binding.kind == "import":
            if binding.attr is None:
                if self.in_package(binding.module):
                    return Symbol("module", binding.module)
                return Symbol("external", qualified=binding.module)
            return self._resolve_attr(binding.module, binding.attr, depth + 1)
        value = binding.value
        if isinstance(value, (ast.Name, ast.Attribute)):
            target = dotted(value)
            if target and target != attr:
                resolved = self.resolve(info.name, target, depth + 1)
                if resolved.kind != "unknown":
                    return resolved
        return Symbol("value", info.name, attr, value=value)

    def class_info(self, symbol: Symbol) -> ClassInfo | None:
        if symbol.kind != "class":
            return None
        info = self.module(symbol.module)
        return None if info is None else info.classes.get(symbol.name)

    def resolve_class(self, module: str, name: str) -> ClassInfo | None:
        return self.class_info(self.resolve(module, name))

    # -- classes -----------------------------------------------------------------------------

    def mro(self, cls: ClassInfo) -> Mro:
        key = f"{cls.qualname}@{cls.lineno}"
        cached = self._mros.get(key)
        if cached is None:
            self._mros[key] = Mro([cls], [], [])  # a cycle sees only the class itself
            cached = self._mro(cls, 0)
            self._mros[key] = cached
        return cached

    def _mro(self, cls: ClassInfo, depth: int) -> Mro:
        external: list[str] = []
        unresolved: list[str] = []
        base_classes: list[ClassInfo] = []
        for base in cls.bases:
            if not base:
                unresolved.append("<expression>")
                continue
            symbol = self.resolve(cls.module, base)
            found = self.class_info(symbol)
            if found is not None and found is not cls and depth < _MAX_DEPTH:
                base_classes.append(found)
            elif symbol.kind == "external":
                external.append(symbol.qualified)
            else:
                unresolved.append(base)
        by_key: dict[str, ClassInfo] = {}
        sequences: list[list[str]] = []
        for base_cls in base_classes:
            sub = self.mro(base_cls)
            external.extend(e for e in sub.external if e not in external)
            unresolved.extend(u for u in sub.unresolved if u not in unresolved)
            keys = []
            for c in sub.classes:
                k = f"{c.qualname}@{c.lineno}"
                by_key[k] = c
                keys.append(k)
            sequences.append(keys)
        sequences.append([f"{b.qualname}@{b.lineno}" for b in base_classes])
        order = c3(sequences)
        if order is None:  # inconsistent hierarchy (Python would refuse): depth-first, unique
            order = list(dict.fromkeys(k for seq in sequences[:-1] for k in seq))
        return Mro([cls, *(by_key[k] for k in order)], external, unresolved)

    def component_classes(self, cls: ClassInfo) -> list[ClassInfo]:
        """A collection's components: ``add_component`` decorators along its MRO, else the
        model classes its ``__init__`` is annotated with (the manifest layout)."""
        found: list[ClassInfo] = []
        seen: set[str] = set()
        for owner in self.mro(cls).classes:
            if is_framework(owner):
                break
            names = list(owner.components)
            if not names:
                init = owner.methods.get("__init__")
                if init is not None and owner is cls:
                    names = list(owner.init_annotations)
            from_annotations = not owner.components
            for name in names:
                component = self.resolve_class(owner.module, name)
                if component is None or component.qualname in seen or is_framework(component):
                    continue
                if from_annotations and not component.module.startswith(
                    cls.module.rsplit(".", 1)[0] + "."
                ):
                    # An annotation may name an abstract base from elsewhere; only the
                    # folder's own classes are taken as the components.
                    continue
                kind = self.mro(component).kind
                if kind in ("pytorch", "precompiled", "other"):
                    seen.add(component.qualname)
                    found.append(component)
            if found:
                break
        return found


# Summaries with their nodes, of modules outside the folders, by path and content: every folder
# that inherits from the framework's base_model.py asks for the same file, and parsing it once
# per folder cost a fifth of a cold run. Bounded: only bodies rules asked for are kept.
_WITH_NODES: dict[tuple[str, str], ModuleInfo | None] = {}
_WITH_NODES_LIMIT = 32


def _with_nodes(module: ModuleInfo, data: bytes | None = None) -> ModuleInfo | None:
    key = (module.path, module.digest)
    if key not in _WITH_NODES:
        if len(_WITH_NODES) >= _WITH_NODES_LIMIT:
            _WITH_NODES.clear()
        try:
            data = Path(module.path).read_bytes() if data is None else data
            tree = ast.parse(data, filename=module.path)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            return None  # not kept: the next ask may find the file readable again
        _WITH_NODES[key] = summarise(
            module.name, module.path, tree, module.digest, module.is_package
        )
    return _WITH_NODES[key]
