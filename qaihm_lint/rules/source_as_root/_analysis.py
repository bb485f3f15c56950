"""What the SourceAsRoot rules (QAI401-QAI406) share: the folder's SourceAsRoot calls and
``sys.path`` edits, found once per folder, and the static values of their arguments.

Calls are recognised by what the callee resolves to through the index: ``SourceAsRoot`` under
any import name, ``functools.partial(SourceAsRoot, ...)`` aliases (their preset arguments come
first), and ``*_as_root()`` wrapper functions. Argument values are followed through module
constants, function-local assignments and imports from other modules.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from qaihm_lint.index import FolderView, Symbol, dotted
from qaihm_lint.rules.base import FolderRule
from qaihm_lint.sources import SourceError, SourceFile

FULL_SHA = re.compile(r"[0-9a-f]{40}")
_PARAMS = (
    "source_repo_url",
    "source_repo_commit_hash",
    "source_repo_name",
    "source_repo_version",
    "source_repo_patches",
    "keep_sys_modules",
)
_SYS_PATH_METHODS = frozenset({"insert", "append", "extend", "remove", "pop", "clear"})
_MAX_DEPTH = 12


@dataclass
class Argument:
    """An argument expression and the module (file) its names are evaluated in."""

    node: ast.expr
    module: str
    path: str
    scopes: tuple[ast.AST, ...] = ()  # enclosing functions, innermost last (call site only)


@dataclass
class SourceAsRootUse:
    source: SourceFile
    node: ast.Call
    kind: str  # "call", "alias" (a partial), "wrapper" (an *_as_root() function)
    callee: str
    at_import: bool
    arguments: dict[str, Argument] = field(default_factory=dict)


@dataclass
class SysPathEdit:
    source: SourceFile
    node: ast.AST
    guarded: bool


@dataclass
class Scan:
    uses: list[SourceAsRootUse] = field(default_factory=list)
    sys_path: list[SysPathEdit] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Scanning the folder


def _callee_kind(view: FolderView, module: str, node: ast.Call) -> tuple[str, Symbol | None] | None:
    name = dotted(node.func)
    if not name:
        return None
    last = name.rsplit(".", 1)[-1]
    symbol = view.resolve(module, name)
    if symbol.kind in ("class", "function") and symbol.name == "SourceAsRoot":
        return "call", symbol
    if symbol.kind == "value" and isinstance(symbol.value, ast.Call):
        partial = symbol.value
        if dotted(partial.func).rsplit(".", 1)[-1] == "partial" and partial.args:
            inner = view.resolve(symbol.module, dotted(partial.args[0]))
            if (inner.kind in ("class", "function") and inner.name == "SourceAsRoot") or dotted(
                partial.args[0]
            ).rsplit(".", 1)[-1] == "SourceAsRoot":
                return "alias", symbol
    if symbol.kind in ("unknown", "external") and last == "SourceAsRoot":
        return "call", None
    if symbol.kind == "function" and last.endswith("_as_root"):
        return "wrapper", symbol
    if symbol.kind == "unknown" and last.endswith(("_as_root", "AsRoot")):
        return "wrapper", None
    return None


def _bind_arguments(
    view: FolderView,
    use_module: str,
    source: SourceFile,
    node: ast.Call,
    kind: str,
    symbol: Symbol | None,
    scopes: tuple[ast.AST, ...],
) -> dict[str, Argument]:
    positional: list[Argument] = []
    keywords: dict[str, Argument] = {}
    if kind == "alias" and symbol is not None and isinstance(symbol.value, ast.Call):
        info = view.module(symbol.module)
        path = info.path if info is not None else ""
        partial = symbol.value
        positional.extend(Argument(a, symbol.module, path) for a in partial.args[1:])
        for keyword in partial.keywords:
            if keyword.arg:
                keywords[keyword.arg] = Argument(keyword.value, symbol.module, path)
    if kind == "wrapper":
        return {}
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            return {}
        positional.append(Argument(arg, use_module, str(source.path), scopes))
    for keyword in node.keywords:
        if keyword.arg is None:
            return {}
        keywords[keyword.arg] = Argument(keyword.value, use_module, str(source.path), scopes)
    bound = dict(zip(_PARAMS, positional, strict=False))
    bound.update(keywords)
    return bound


def _is_sys_path(node: ast.AST) -> bool:
    return dotted(node) == "sys.path" or (
        isinstance(node, ast.Subscript) and dotted(node.value) == "sys.path"
    )


class _Scanner:
    def __init__(self, view: FolderView, source: SourceFile, scan: Scan) -> None:
        self.view = view
        self.source = source
        self.scan = scan
        self.module = view.module_of_file(source.path.name)
        self.functions: list[ast.AST] = []
        self.guards = 0  # depth of enclosing SourceAsRoot-like `with` blocks

    def walk(self, tree: ast.Module) -> None:
        # Iterative, with explicit enter/leave, so deep code cannot overflow the stack.
        stack: list[tuple[ast.AST, int]] = [(tree, 0)]
        while stack:
            node, state = stack.pop()
            if state == 1:
                self.leave(node)
                continue
            self.enter(node)
            stack.append((node, 1))
            stack.extend((child, 0) for child in reversed(list(ast.iter_child_nodes(node))))

    def _guarding(self, node: ast.AST) -> bool:
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and _callee_kind(self.view, self.module, expr):
                    return True
        return False

    def enter(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.functions.append(node)
        if self._guarding(node):
            self.guards += 1
        if isinstance(node, ast.Call):
            found = _callee_kind(self.view, self.module, node)
            if found is not None:
                kind, symbol = found
                self.scan.uses.append(
                    SourceAsRootUse(
                        self.source,
                        node,
                        kind,
                        dotted(node.func),
                        at_import=not self.functions,
                        arguments=_bind_arguments(
                            self.view,
                            self.module,
                            self.source,
                            node,
                            kind,
                            symbol,
                            tuple(self.functions),
                        ),
                    )
                )
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _SYS_PATH_METHODS
                and dotted(func.value) == "sys.path"
            ):
                self.scan.sys_path.append(SysPathEdit(self.source, node, self.guards > 0))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_sys_path(t) for t in targets):
                self.scan.sys_path.append(SysPathEdit(self.source, node, self.guards > 0))

    def leave(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.functions.pop()
        if self._guarding(node):
            self.guards -= 1


def scan_folder(rule: FolderRule) -> Scan:
    memo = rule.ctx.memo
    cached = memo.get("source-as-root-scan")
    if isinstance(cached, Scan):
        return cached
    scan = Scan()
    view = rule.ctx.view
    for source in rule.folder.python_files():
        try:
            tree = source.tree
        except SourceError:
            continue
        text = source.text
        if "AsRoot" not in text and "as_root" not in text and "sys.path" not in text:
            continue
        _Scanner(view, source, scan).walk(tree)
    memo["source-as-root-scan"] = scan
    return scan


# ---------------------------------------------------------------------------------------------
# Evaluating argument values statically


class Unknown(Exception):
    pass


def _localvalue_of(scopes: tuple[ast.AST, ...], name: str, before: int) -> ast.expr | None:
    """The last assignment of ``name`` in the enclosing functions before line ``before``."""
    for scope in reversed(scopes):
        found: ast.expr | None = None
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and node.lineno < before:
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    found = node.value
            elif (
                isinstance(node, ast.AnnAssign)
                and node.value is not None
                and node.lineno < before
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                found = node.value
        if found is not None:
            return found
    return None


def evaluate(view: FolderView, argument: Argument, depth: int = 0) -> object:
    """The constant value of an argument (str, int, list of those, or a path), or Unknown."""
    if depth > _MAX_DEPTH:
        raise Unknown
    node = argument.node

    def again(
        expr: ast.expr,
        module: str | None = None,
        path: str | None = None,
        scopes: tuple[ast.AST, ...] | None = None,
    ) -> object:
        return evaluate(
            view,
            Argument(
                expr,
                module or argument.module,
                path or argument.path,
                argument.scopes if scopes is None else scopes,
            ),
            depth + 1,
        )

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [again(e) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return argument.path
        local = _localvalue_of(argument.scopes, node.id, node.lineno)
        if local is not None:
            return again(local)
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            return os.path.dirname(str(again(node.value)))
        symbol = view.resolve(argument.module, name)
        if symbol.kind == "value" and symbol.value is not None:
            info = view.module(symbol.module)
            if info is None:
                raise Unknown
            return again(symbol.value, symbol.module, info.path, ())
        raise Unknown
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return os.path.join(str(again(node.left)), str(again(node.right)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = again(node.left), again(node.right)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        raise Unknown
    if isinstance(node, ast.Call):
        callee = dotted(node.func).rsplit(".", 1)[-1]
        args = [again(a) for a in node.args]
        if callee == "join" and args and all(isinstance(a, str) for a in args):
            return os.path.join(*[str(a) for a in args])
        if callee == "dirname" and len(args) == 1:
            return os.path.dirname(str(args[0]))
        if (
            callee in ("Path", "str", "abspath", "realpath", "normpath", "fspath", "resolve")
            and len(args) == 1
        ):
            return args[0]
        if callee == "resolve" and not args and isinstance(node.func, ast.Attribute):
            return again(node.func.value)
        raise Unknown
    raise Unknown


def value_of(view: FolderView, use: SourceAsRootUse, name: str) -> object:
    argument = use.arguments.get(name)
    if argument is None:
        raise Unknown
    return evaluate(view, argument)


def argument_node(use: SourceAsRootUse, name: str) -> ast.AST:
    """Report at the argument when it is written at the call, else at the call."""
    argument = use.arguments.get(name)
    if (
        argument is not None
        and argument.path == str(use.source.path)
        and any(argument.node is a for a in [*use.node.args, *(k.value for k in use.node.keywords)])
    ):
        return argument.node
    return use.node


class SourceAsRootRule(FolderRule):
    needs_index: ClassVar[bool] = True

    def view(self) -> FolderView:
        return self.ctx.view

    def report_use(self, use: SourceAsRootUse, node: ast.AST, message: str) -> None:
        self.report_node(use.source, node, message)

    def argument_values(self, name: str) -> Iterator[tuple[SourceAsRootUse, object]]:
        """(call, value of its argument ``name``) for each direct SourceAsRoot call of the
        folder whose value is known statically (wrappers and unknown values are skipped)."""
        view = self.view()
        for use in scan_folder(self).uses:
            if use.kind == "wrapper":
                continue
            try:
                yield use, value_of(view, use, name)
            except Unknown:
                continue
