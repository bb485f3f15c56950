"""RepoIndex: a declaration-level summary of every class a model folder can inherit from.

Built with the standard library's ``ast`` (declarations only: no libcst, no import of the code),
one parse per module, lazily: a module is summarised the first time a resolution reaches it, so
a run over one folder reads only the handful of files that folder really depends on.

The index resolves names the way Python would at import time, statically: ``from x import Y as
Z``, relative imports, ``import a.b`` then ``a.b.C``, re-exports through ``__init__.py``,
``Alias = Other`` assignments, ``functools.partial`` aliases, and orders bases with C3 (the MRO).
Everything here is picklable, so a forked worker inherits whatever the parent has loaded.

A ``view`` of the index for one model folder reads that folder's own files from the folder
object (so pending fixes are seen) and records which files outside the folder a resolution
touched: ``fingerprint`` digests exactly those, and ``dependants`` inverts them.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from qaihm_lint.workspace import ModelFolder

PACKAGE = "qai_hub_models"
_GENERATED = frozenset({"export.py", "test_generated.py", "evaluate.py", "conftest.py"})
_GENERATED_MARKER = b"THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY."
_MAX_DEPTH = 40

# The framework's model roots, by class name, when defined in the package's utils/ (both layouts).
PYTORCH_ROOTS = frozenset({"BaseModel", "PytorchWorkbenchModel"})
COLLECTION_ROOTS = frozenset(
    {
        "CollectionModel",
        "PretrainedCollectionModel",
        "PrecompiledCollectionModel",
        "WorkbenchModelCollection",
        "PrecompiledWorkbenchModelCollection",
        "MultiGraphCollectionModel",
        "MultiGraphWorkbenchModelCollection",
    }
)
PRECOMPILED_ROOTS = frozenset({"BasePrecompiledModel", "PrecompiledWorkbenchModel"})
OTHER_ROOTS = frozenset({"WorkbenchModel", "HubModel", "BaseMultiGraphModel", "MultiGraphModel"})
FRAMEWORK_ROOTS = PYTORCH_ROOTS | COLLECTION_ROOTS | PRECOMPILED_ROOTS | OTHER_ROOTS

ModelKind = Literal["pytorch", "collection", "precompiled", "other"]


# ---------------------------------------------------------------------------------------------
# Summaries


@dataclass(frozen=True)
class Param:
    name: str
    kind: Literal["posonly", "positional", "vararg", "kwonly", "varkw"]
    has_default: bool


@dataclass(frozen=True)
class MethodInfo:
    name: str
    lineno: int
    col: int
    # Dotted text of each decorator (a call decorator by its callee), in source order.
    decorators: tuple[str, ...]
    params: tuple[Param, ...]
    concrete: bool
    # "def": a function definition; "static"/"class": `name = staticmethod(...)` /
    # `classmethod(...)` class-level assignments; "alias": any other class-level assignment.
    form: Literal["def", "static", "class", "alias"] = "def"
    # The body reads its first parameter (or calls zero-argument super(), which needs it).
    uses_first: bool = True

    def has_decorator(self, *names: str) -> bool:
        return any(d.rsplit(".", 1)[-1] in names for d in self.decorators)

    @property
    def is_static(self) -> bool:
        return self.form == "static" or self.has_decorator("staticmethod")

    @property
    def is_classmethod(self) -> bool:
        return self.form == "class" or self.has_decorator("classmethod")

    @property
    def is_abstract(self) -> bool:
        return self.has_decorator("abstractmethod", "abstractclassmethod", "abstractstaticmethod")

    @property
    def is_property(self) -> bool:
        return self.has_decorator("property", "cached_property")

    def bound_params(self) -> tuple[Param, ...]:
        """Parameters after the implicit first one (self / cls), as a caller passes them."""
        if self.form != "def" or self.is_static:
            return self.params
        rest = list(self.params)
        if rest and rest[0].kind in ("posonly", "positional"):
            rest.pop(0)
        return tuple(rest)


@dataclass(frozen=True)
class ClassInfo:
    module: str
    name: str
    path: str
    lineno: int
    col: int
    bases: tuple[str, ...]  # dotted source text of each base ("" when not a name)
    methods: dict[str, MethodInfo]
    # `@X.add_component(Comp, ...)` class decorators: the dotted component expressions.
    components: tuple[str, ...] = ()
    # Dotted annotations of __init__'s parameters (collections of the manifest layout).
    init_annotations: tuple[str, ...] = ()
    # Class-level names bound otherwise (constants, attributes).
    attributes: frozenset[str] = frozenset()
    top_level: bool = True

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Binding:
    """What a module-level name is bound to."""

    kind: Literal["import", "class", "function", "value"]
    # import: the module imported, and the attribute taken from it (None: the module itself).
    module: str = ""
    attr: str | None = None
    # value: the assigned expression.
    value: ast.expr | None = None
    lineno: int = 0


@dataclass
class ModuleInfo:
    name: str
    path: str
    digest: str
    is_package: bool
    bindings: dict[str, Binding] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)  # top-level, by name
    nested_classes: list[ClassInfo] = field(default_factory=list)  # defined in functions
    star_imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Symbol:
    """A resolved name."""

    kind: Literal["class", "module", "function", "value", "external", "unknown"]
    module: str = ""
    name: str = ""
    # external: the qualified dotted name outside the package (torch.nn.Module).
    qualified: str = ""
    value: ast.expr | None = None

    @property
    def qualname(self) -> str:
        if self.kind == "external":
            return self.qualified
        return f"{self.module}.{self.name}" if self.name else self.module


def dotted(node: ast.AST | None) -> str:
    """``a.b.C`` for names and attribute chains, the callee for calls, the value of a
    subscript (``Generic[T]`` -> ``Generic``); "" for anything else."""
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Subscript):
        return dotted(node.value)
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def body_is_stub(body: list[ast.stmt]) -> bool:
    """Only a docstring, ``...``, or ``raise NotImplementedError``: declares, does not provide."""
    rest = [s for s in body if not _is_docstring(s)]
    if not rest:
        return True
    if len(rest) != 1:
        return False
    only = rest[0]
    if (
        isinstance(only, ast.Expr)
        and isinstance(only.value, ast.Constant)
        and only.value.value is Ellipsis
    ):
        return True
    if isinstance(only, ast.Raise) and only.exc is not None:
        return dotted(only.exc).rsplit(".", 1)[-1] == "NotImplementedError"
    return False


def _params(args: ast.arguments) -> tuple[Param, ...]:
    out: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for i, arg in enumerate(positional):
        kind: Literal["posonly", "positional"] = (
            "posonly" if i < len(args.posonlyargs) else "positional"
        )
        out.append(Param(arg.arg, kind, i >= first_default))
    if args.vararg is not None:
        out.append(Param(args.vararg.arg, "vararg", True))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=False):
        out.append(Param(arg.arg, "kwonly", default is not None))
    if args.kwarg is not None:
        out.append(Param(args.kwarg.arg, "varkw", True))
    return tuple(out)


def uses_name(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    """Whether the function's body (or its decorators' arguments, defaults) reads ``name`` or
    calls zero-argument ``super()``."""
    for statement in function.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id in (name, "__class__"):
                return True
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "super"
                and not node.args
            ):
                return True
    return False


_SELF_CHECKED = frozenset({"get_input_spec", "get_output_names", "from_pretrained"})


def method_info(node: ast.FunctionDef | ast.AsyncFunctionDef) -> MethodInfo:
    decorators = tuple(dotted(d) for d in node.decorator_list)
    info = MethodInfo(
        name=node.name,
        lineno=node.lineno,
        col=node.col_offset,
        decorators=decorators,
        params=_params(node.args),
        concrete=True,
    )
    abstract = info.is_abstract or body_is_stub(node.body)
    positional = [*node.args.posonlyargs, *node.args.args]
    uses_first = True
    # Whether the body needs its instance only matters where a fix may drop it.
    if positional and not info.is_static and node.name in _SELF_CHECKED:
        uses_first = uses_name(node, positional[0].arg)
    return MethodInfo(
        info.name, info.lineno, info.col, decorators, info.params, not abstract, "def", uses_first
    )


def _class_info(node: ast.ClassDef, module: str, path: str, top_level: bool) -> ClassInfo:
    methods: dict[str, MethodInfo] = {}
    attributes: set[str] = set()
    init_annotations: tuple[str, ...] = ()
    for statement in node.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods[statement.name] = method_info(statement)
            if statement.name == "__init__":
                init_annotations = tuple(
                    d
                    for a in [*statement.args.args, *statement.args.kwonlyargs]
                    if a.annotation is not None
                    for d in _annotation_names(a.annotation)
                )
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            callee = dotted(statement.value) if isinstance(statement.value, ast.Call) else ""
            form: Literal["static", "class", "alias"] = (
                "static"
                if callee.endswith("staticmethod")
                else "class"
                if callee.endswith("classmethod")
                else "alias"
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    if form != "alias" or isinstance(
                        statement.value, (ast.Name, ast.Attribute, ast.Lambda)
                    ):
                        methods[target.id] = MethodInfo(
                            target.id, statement.lineno, statement.col_offset, (), (), True, form
                        )
                    else:
                        attributes.add(target.id)
    components = []
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and dotted(decorator.func).endswith("add_component")
            and decorator.args
        ):
            components.append(dotted(decorator.args[0]))
    return ClassInfo(
        module=module,
        name=node.name,
        path=path,
        lineno=node.lineno,
        col=node.col_offset,
        bases=tuple(dotted(b) for b in node.bases),
        methods=methods,
        components=tuple(components),
        init_annotations=init_annotations,
        attributes=frozenset(attributes),
        top_level=top_level,
    )


def _annotation_names(node: ast.expr) -> Iterator[str]:
    """Dotted names in an annotation (``A | None``, ``Optional[A]``, ``"A"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            parsed = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return
        yield from _annotation_names(parsed)
        return
    if isinstance(node, ast.BinOp):
        yield from _annotation_names(node.left)
        yield from _annotation_names(node.right)
        return
    if isinstance(node, ast.Subscript):
        yield from _annotation_names(node.slice)
        return
    if isinstance(node, ast.Tuple):
        for element in node.elts:
            yield from _annotation_names(element)
        return
    name = dotted(node)
    if name:
        yield name


def top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import: also those under top-level if/try/with blocks."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If):
            yield from top_level_statements(statement.body)
            yield from top_level_statements(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (
                statement.body,
                statement.orelse,
                statement.finalbody,
                *(handler.body for handler in statement.handlers),
            ):
                yield from top_level_statements(block)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            yield from top_level_statements(statement.body)


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module named by ``from <level dots><target> import ...``."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


def summarise(name: str, path: str, tree: ast.Module, digest: str, is_package: bool) -> ModuleInfo:
    info = ModuleInfo(name=name, path=path, digest=digest, is_package=is_package)
    bindings = info.bindings
    stars: list[str] = []

    def bind(key: str, binding: Binding) -> None:
        # The first binding at import wins, except that a later plain definition replaces an
        # import fallback (try: import X / except: X = None keeps the import).
        bindings.setdefault(key, binding)

    for statement in top_level_statements(tree.body):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    bind(alias.asname, Binding("import", alias.name, None, lineno=statement.lineno))
                else:
                    head = alias.name.split(".")[0]
                    bind(head, Binding("import", head, None, lineno=statement.lineno))
        elif isinstance(statement, ast.ImportFrom):
            source = resolve_relative(name, is_package, statement.level, statement.module)
            for alias in statement.names:
                if alias.name == "*":
                    stars.append(source)
                    continue
                bind(
                    alias.asname or alias.name,
                    Binding("import", source, alias.name, lineno=statement.lineno),
                )
        elif isinstance(statement, ast.ClassDef):
            bind(statement.name, Binding("class", lineno=statement.lineno))
            info.classes.setdefault(
                statement.name, _class_info(statement, name, path, top_level=True)
            )
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bind(statement.name, Binding("function", lineno=statement.lineno))
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    bind(
                        target.id, Binding("value", value=statement.value, lineno=statement.lineno)
                    )
    for function in _statements(tree.body, functions_only=True):
        for inner in _statements(getattr(function, "body", [])):
            if isinstance(inner, ast.ClassDef):
                info.nested_classes.append(_class_info(inner, name, path, top_level=False))
    info.star_imports = tuple(stars)
    return info


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(body: list[ast.stmt], functions_only: bool = False) -> Iterator[ast.AST]:
    """Statements nested in ``body`` (blocks of compound statements, not expressions: far
    cheaper than ``ast.walk``). ``functions_only``: the outermost function definitions, found
    at module level or in classes and compound statements."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if not functions_only or is_function:
            yield node
        if functions_only and is_function:
            continue
        for block in _BLOCKS:
            children = getattr(node, block, None)
            if isinstance(children, list):
                stack.extend(reversed(children))


# ---------------------------------------------------------------------------------------------
# Resolution


@dataclass
class Mro:
    classes: list[ClassInfo]  # in method resolution order, the class itself first
    # Qualified names of bases outside the package (torch.nn.Module, typing.Protocol).
    external: list[str]
    # Some base could not be resolved (a name not found, a dynamic expression).
    unresolved: list[str]

    def framework_roots(self) -> list[ClassInfo]:
        return [c for c in self.classes if is_framework(c)]

    @property
    def kind(self) -> ModelKind | None:
        names = {c.name for c in self.framework_roots()}
        if not names:
            return None
        if (
            names & PRECOMPILED_ROOTS
            or "PrecompiledCollectionModel" in names
            or "PrecompiledWorkbenchModelCollection" in names
        ):
            return "precompiled"
        if names & COLLECTION_ROOTS:
            return "collection"
        if names & PYTORCH_ROOTS:
            return "pytorch"
        return "other"

    def lookup(self, method: str) -> tuple[ClassInfo, MethodInfo] | None:
        """The definition Python would find: the first class of the MRO that defines it."""
        for cls in self.classes:
            found = cls.methods.get(method)
            if found is not None:
                return cls, found
        return None


def is_framework(cls: ClassInfo) -> bool:
    return cls.name in FRAMEWORK_ROOTS and f".{PACKAGE}.utils." in f".{cls.module}."


def _c3(sequences: list[list[str]]) -> list[str] | None:
    result: list[str] = []
    seqs = [list(s) for s in sequences if s]
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in other[1:] for other in seqs):
                break
        else:
            return None
        result.append(head)
        for seq in seqs:
            if seq and seq[0] == head:
                seq.pop(0)
        seqs = [s for s in seqs if s]
    return result


class Resolver:
    """Name and class resolution over module summaries (loaded by ``_load``)."""

    def __init__(self, package_root: Path | None) -> None:
        self.package_root = package_root
        self._modules: dict[str, ModuleInfo | None] = {}
        self._mros: dict[str, Mro] = {}
        self._views: dict[str, list[FolderView]] = {}
        self._stamps: dict[str, tuple[int, int]] = {}

    # -- loading -----------------------------------------------------------------------------

    def module_path(self, name: str) -> tuple[Path, bool] | None:
        """The file of a package module (and whether it is a package's __init__)."""
        if self.package_root is None:
            return None
        parts = name.split(".")
        if parts[0] != PACKAGE:
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
        parts = [PACKAGE, *relative.with_suffix("").parts]
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
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if _GENERATED_MARKER in data[:2048]:
            return None
        try:
            tree = ast.parse(data, filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        try:
            stat = path.stat()
            self._stamps[str(path)] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            pass
        return summarise(name, str(path), tree, digest, is_package)

    def module(self, name: str) -> ModuleInfo | None:
        if name not in self._modules:
            self._modules[name] = self._load(name)
        return self._modules[name]

    def fresh_module(self, name: str) -> ModuleInfo | None:
        """``module``, re-read when its file changed since it was summarised (a long-lived
        process, or a test that edits a shared base between runs): one stat per call."""
        info = self._modules.get(name)
        if info is not None:
            try:
                stat = os.stat(info.path)
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamp = None
            if stamp != self._stamps.get(info.path):
                del self._modules[name]
                self._mros.clear()
        return self.module(name)

    def in_package(self, name: str) -> bool:
        return name == PACKAGE or name.startswith(PACKAGE + ".")

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
        if info is None and self.module_path(module) is None:
            return Symbol("unknown", module, attr)
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
        order = _c3(sequences)
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


class FolderView(Resolver):
    """The index seen from one model folder: the folder's own files come from the folder
    object (pending fixes included); everything else from the shared index. Records every
    file outside the folder that a resolution read."""

    def __init__(self, index: RepoIndex, folder: ModelFolder) -> None:
        super().__init__(index.package_root)
        self.index = index
        self.folder = folder
        self.prefix = f"{PACKAGE}.models.{folder.module_suffix}"
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
        from qaihm_lint.sources import SourceError

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
                index.module(f"{PACKAGE}.{name}")
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
        from qaihm_lint.workspace import Layout, ModelFolder

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
        from qaihm_lint.workspace import Package

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


def iter_model_classes(
    view: Resolver, classes: Iterable[ClassInfo]
) -> Iterator[tuple[ClassInfo, Mro]]:
    for cls in classes:
        mro = view.mro(cls)
        if mro.kind is not None and not is_framework(cls):
            yield cls, mro
