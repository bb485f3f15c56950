"""What the index knows of a module: its bindings, classes and their methods (declarations only)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal


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
    # The definition itself (a function, or the class-level assignment), so that a rule can read
    # or report the method the index found without looking for it again. Kept for the folder's
    # own files only (see ``summarise``); ``Resolver.definition`` finds it for the others.
    node: ast.stmt | None = field(default=None, compare=False, repr=False)

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
    # The class statement (the folder's own files only, as for ``MethodInfo.node``).
    node: ast.ClassDef | None = field(default=None, compare=False, repr=False)

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
