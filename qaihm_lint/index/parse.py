"""From a module's AST to its summary (``ModuleInfo``): declarations only, never the code's
behaviour, and cheap enough to run on every module a resolution reaches."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

from qaihm_lint.index.model import Binding, ClassInfo, MethodInfo, ModuleInfo, Param


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
        info.name,
        info.lineno,
        info.col,
        decorators,
        info.params,
        not abstract,
        "def",
        uses_first,
        node,
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
                            target.id,
                            statement.lineno,
                            statement.col_offset,
                            (),
                            (),
                            True,
                            form,
                            node=statement,
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
        node=node,
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


def summarise(
    name: str, path: str, tree: ast.Module, digest: str, is_package: bool, keep_nodes: bool = True
) -> ModuleInfo:
    """The module's summary. ``keep_nodes=False`` leaves out the definitions' AST nodes
    (``MethodInfo.node``, ``ClassInfo.node``): the index keeps every module it summarised, and
    the nodes would keep their whole trees alive with it."""
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
    if not keep_nodes:
        info.classes = {key: _without_nodes(cls) for key, cls in info.classes.items()}
        info.nested_classes = [_without_nodes(cls) for cls in info.nested_classes]
    return info


def _without_nodes(cls: ClassInfo) -> ClassInfo:
    methods = {key: replace(method, node=None) for key, method in cls.methods.items()}
    return replace(cls, methods=methods, node=None)


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
