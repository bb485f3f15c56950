"""libcst codemods behind the model-code fixes (QAI202, QAI204, QAI501, QAI502, QAI602).

Each public function takes what the rule knows (names, or a 1-based row and character column
of the node the ``ast`` walk flagged) and returns a transform ``libcst.Module -> libcst.Module``
for ``PythonRule.cst_fix``. Transforms change only the node they target, so comments and
formatting elsewhere are kept; a transform that finds nothing to change returns the module
unchanged (no fix is offered then).

Why a rule does not hand over the node it found, as Fixit's ``report(node, replacement=...)``
does: rules detect on the standard library's ``ast``, several times cheaper than libcst on a
cold run, and libcst is loaded only once a fix is computed; an ``ast`` node cannot stand for a
libcst one. So the transform finds its node again in the file's one concrete tree (parsed once
per file, ``SourceFile.cst``): by the position the walk reported (QAI501, QAI502), or by class
and method name (QAI202, QAI204, QAI602), since those methods are found through the index's
picklable summaries and may be reported from another rule's analysis. Both ways pick exactly
the reported node; the fixer tests and ``bench/fix_safety.py`` check that nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from qaihm_lint.fixers.cst_imports import add_import, imports

Transform = Callable[[cst.Module], cst.Module]


# ---------------------------------------------------------------------------------------------
# Finding a method by class and name


def _transform_method(
    class_name: str, method_name: str, change: Callable[[cst.FunctionDef], cst.FunctionDef]
) -> Transform:
    """Apply ``change`` to the first ``def method_name`` directly in ``class class_name``."""

    class Rewriter(cst.CSTTransformer):
        def __init__(self) -> None:
            super().__init__()
            self.classes: list[str] = []
            self.done = False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            self.classes.append(node.name.value)
            return True

        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            self.classes.pop()
            return updated

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False  # methods directly in the class only; nested defs are not ours

        def leave_FunctionDef(
            self, original: cst.FunctionDef, updated: cst.FunctionDef
        ) -> cst.FunctionDef:
            if (
                self.done
                or not self.classes
                or self.classes[-1] != class_name
                or original.name.value != method_name
            ):
                return updated
            self.done = True
            return change(updated)

    def transform(module: cst.Module) -> cst.Module:
        return module.visit(Rewriter())

    return transform


def _decorator_name(decorator: cst.Decorator) -> str:
    node = decorator.decorator
    if isinstance(node, cst.Call):
        node = node.func
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
    return ".".join(reversed(parts))


def _has_decorator(function: cst.FunctionDef, name: str) -> bool:
    return any(_decorator_name(d).rsplit(".", 1)[-1] == name for d in function.decorators)


def _add_decorator(function: cst.FunctionDef, expression: str) -> cst.FunctionDef:
    """Add ``@expression`` as the outermost decorator (above existing ones, keeping their
    comments), indented like the ``def``."""
    decorator = cst.Decorator(decorator=cst.parse_expression(expression))
    existing = list(function.decorators)
    if existing:
        # The comment lines above the first decorator stay above the new one.
        first = existing[0]
        decorator = decorator.with_changes(leading_lines=first.leading_lines)
        existing[0] = first.with_changes(leading_lines=())
        return function.with_changes(decorators=[decorator, *existing])
    decorator = decorator.with_changes(leading_lines=function.leading_lines)
    return function.with_changes(decorators=[decorator], leading_lines=())


class _Renamer(cst.CSTTransformer):
    def __init__(self, old: str, new: str) -> None:
        super().__init__()
        self.old, self.new = old, new

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.new) if updated.value == self.old else updated


class _NameScan(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.nested_params: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Param(self, node: cst.Param) -> None:
        self.nested_params.add(node.name.value)


def _scan(node: cst.CSTNode) -> _NameScan:
    scan = _NameScan()
    node.visit(scan)
    return scan


def make_classmethod(class_name: str, method_name: str) -> Transform:
    """QAI202: ``@classmethod`` on the method; the first parameter renamed to ``cls`` (with its
    uses) when that is safe, or ``cls`` inserted when there is no parameter."""

    def change(function: cst.FunctionDef) -> cst.FunctionDef:
        if _has_decorator(function, "classmethod"):
            return function
        params = function.params
        body_scan = _scan(function.body)
        if _has_decorator(function, "staticmethod"):
            function = function.with_changes(
                decorators=[
                    d
                    for d in function.decorators
                    if _decorator_name(d).rsplit(".", 1)[-1] != "staticmethod"
                ]
            )
            if "cls" in body_scan.names or "cls" in {p.name.value for p in _all_params(params)}:
                return function  # cannot insert cls safely: leave untouched
            params = params.with_changes(params=[cst.Param(cst.Name("cls")), *params.params])
            return _add_decorator(function.with_changes(params=params), "classmethod")
        positional = [*params.posonly_params, *params.params]
        if not positional:
            if "cls" not in body_scan.names and params.star_arg is cst.MaybeSentinel.DEFAULT:
                params = params.with_changes(params=[cst.Param(cst.Name("cls"))])
                function = function.with_changes(params=params)
            else:
                return function
        else:
            first = positional[0].name.value
            if first not in ("self", "cls"):
                # A real argument in first place: whether it was meant as `cls` is a guess.
                return function
            safe = (
                first != "cls"
                and "cls" not in body_scan.names
                and first not in body_scan.nested_params
                and "cls" not in {p.name.value for p in _all_params(params)}
            )
            if safe:
                renamed_params = params.visit(_Renamer(first, "cls"))
                assert isinstance(renamed_params, cst.Parameters)
                # Only the first parameter is renamed, not defaults that mention the name.
                first_param = positional[0].with_changes(name=cst.Name("cls"))
                if params.posonly_params:
                    params = params.with_changes(
                        posonly_params=[first_param, *params.posonly_params[1:]]
                    )
                else:
                    params = params.with_changes(params=[first_param, *params.params[1:]])
                body = function.body.visit(_Renamer(first, "cls"))
                assert isinstance(body, cst.BaseSuite)
                function = function.with_changes(params=params, body=body)
        return _add_decorator(function, "classmethod")

    return _transform_method(class_name, method_name, change)


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    if isinstance(params.star_arg, cst.Param):
        found.append(params.star_arg)
    if params.star_kwarg is not None:
        found.append(params.star_kwarg)
    return found


def make_staticmethod(class_name: str, method_name: str) -> Transform:
    """QAI204: ``@staticmethod`` and the unused first parameter dropped."""

    def change(function: cst.FunctionDef) -> cst.FunctionDef:
        if _has_decorator(function, "staticmethod") or _has_decorator(function, "classmethod"):
            return function
        params = function.params
        positional = [*params.posonly_params, *params.params]
        if not positional:
            return function
        first = positional[0].name.value
        if first in _scan(function.body).names:
            return function
        dropped = positional[0]
        if params.posonly_params:
            params = params.with_changes(posonly_params=params.posonly_params[1:])
            if not params.posonly_params:
                params = params.with_changes(posonly_ind=cst.MaybeSentinel.DEFAULT)
        else:
            params = params.with_changes(params=params.params[1:])
        function = function.with_changes(params=params)
        # `def f(self,\n        x, ...)`: the line break after `self,` now follows `(`.
        if isinstance(dropped.comma, cst.Comma) and isinstance(
            dropped.comma.whitespace_after, cst.ParenthesizedWhitespace
        ):
            function = function.with_changes(
                whitespace_before_params=dropped.comma.whitespace_after
            )
        return _add_decorator(function, "staticmethod")

    return _transform_method(class_name, method_name, change)


# ---------------------------------------------------------------------------------------------
# Position-based rewrites


def _at(
    row: int,
    column: int,
    kinds: tuple[type[cst.CSTNode], ...],
    change: Callable[[cst.CSTNode], cst.CSTNode],
    accept: Callable[[cst.CSTNode], bool] = lambda node: True,
) -> Transform:
    """Apply ``change`` to the node of one of ``kinds`` that starts at row/column (1-based,
    columns in characters, as the ``ast`` walk reported) and that ``accept`` takes: calls
    chained on calls (``torch.load(p).to(d)``) start at the same place."""

    class Rewriter(cst.CSTTransformer):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def on_leave(  # type: ignore[override]
            self,
            original: cst.CSTNode,
            updated: cst.CSTNode,
        ) -> cst.CSTNode:
            if self.done or not isinstance(original, kinds) or not accept(original):
                return updated
            position = self.get_metadata(PositionProvider, original, None)
            if not isinstance(position, CodeRange):
                return updated
            if position.start.line == row and position.start.column == column - 1:
                self.done = True
                return change(updated)
            return updated

    def transform(module: cst.Module) -> cst.Module:
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        return wrapper.visit(Rewriter())

    return transform


def add_map_location(row: int, column: int) -> Transform:
    """QAI502: ``map_location="cpu"`` appended to the ``torch.load`` call at row/column."""

    def change(node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.Call)
        if any(a.keyword is not None and a.keyword.value == "map_location" for a in node.args):
            return node
        return append_keyword(node, "map_location", '"cpu"')

    def accept(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and _callee_last(node) == "load"

    return _at(row, column, (cst.Call,), change, accept)


def _callee_last(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return ""


def append_keyword(call: cst.Call, keyword: str, value: str) -> cst.Call:
    """``call`` with ``keyword=value`` as its last argument, laid out like the others (one per
    line when they are, keeping a trailing comma)."""
    new = cst.Arg(
        keyword=cst.Name(keyword),
        value=cst.parse_expression(value),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    items = list(call.args)
    if not items:
        return call.with_changes(args=[new])
    last = items[-1]
    if isinstance(last.comma, cst.Comma):
        # `f(\n    a,\n)`: the comma after `a` takes the layout of the first argument's line,
        # the new argument takes the old trailing comma (and what followed it).
        new = new.with_changes(comma=last.comma)
        items[-1] = last.with_changes(comma=cst.Comma(whitespace_after=call.whitespace_before_args))
        return call.with_changes(args=[*items, new])
    # `f(a)` or `f(\n    a\n)`: a comma and a space after `a`; what followed `a` (a newline
    # before the closing parenthesis) now follows the new argument.
    new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
    items[-1] = last.with_changes(
        comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
        whitespace_after_arg=cst.SimpleWhitespace(""),
    )
    return call.with_changes(args=[*items, new])


def cuda_to_cpu(row: int, column: int) -> Transform:
    """QAI501: the flagged CUDA use made CPU: ``.cuda()`` -> ``.cpu()``, ``"cuda[:N]"`` ->
    ``"cpu"``."""

    def change(node: cst.CSTNode) -> cst.CSTNode:
        if isinstance(node, cst.SimpleString):
            quote = node.value[-1]
            prefix = node.value[: len(node.value) - len(node.value.lstrip("rbuRBU"))]
            return node.with_changes(value=f"{prefix}{quote}cpu{quote}")
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "cuda"
        ):
            return node.with_changes(func=node.func.with_changes(attr=cst.Name("cpu")), args=[])
        return node

    def accept(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.SimpleString) or (
            isinstance(node, cst.Call) and _callee_last(node) == "cuda"
        )

    return _at(row, column, (cst.SimpleString, cst.Call), change, accept)


def add_trace_marker(function_name: str) -> Transform:
    """QAI602: ``@pytest.mark.trace`` on the test, and ``import pytest`` when missing."""

    class Rewriter(cst.CSTTransformer):
        def __init__(self) -> None:
            super().__init__()
            self.depth = 0
            self.changed = False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            self.depth += 1
            return True

        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            self.depth -= 1
            return updated

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def leave_FunctionDef(
            self, original: cst.FunctionDef, updated: cst.FunctionDef
        ) -> cst.FunctionDef:
            if self.changed or self.depth or original.name.value != function_name:
                return updated
            for decorator in updated.decorators:
                if _decorator_name(decorator).endswith("mark.trace"):
                    return updated
            self.changed = True
            return _add_decorator(updated, "pytest.mark.trace")

    def transform(module: cst.Module) -> cst.Module:
        rewriter = Rewriter()
        updated = module.visit(rewriter)
        if rewriter.changed and not imports(updated, "pytest"):
            updated = add_import(updated, "import pytest")
        return updated

    return transform
