"""The one walk over a Python file's ast that feeds every Python rule of the folder."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.rules.base import PythonRule
from qaihm_lint.sources import SourceFile

_Handler = tuple[PythonRule, Callable[[ast.AST], None]]
_LEAVING = object()  # stack marker: the node below it is being left
_HANDLER_NAMES: dict[type, tuple[dict[str, list[str]], dict[str, list[str]]]] = {}


def _handlers(rule_cls: type[PythonRule]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A rule class's visit_/leave_ method names by node type name (computed once per class)."""
    if rule_cls in _HANDLER_NAMES:
        return _HANDLER_NAMES[rule_cls]
    enter: dict[str, list[str]] = defaultdict(list)
    leave: dict[str, list[str]] = defaultdict(list)
    for name in dir(rule_cls):
        if name.startswith("visit_"):
            enter[name[6:]].append(name)
        elif name.startswith("leave_"):
            leave[name[6:]].append(name)
    _HANDLER_NAMES[rule_cls] = (dict(enter), dict(leave))
    return _HANDLER_NAMES[rule_cls]


def walk_file(
    source: SourceFile,
    rules: list[PythonRule],
    on_error: Callable[[PythonRule, Exception], None],
) -> list[Diagnostic]:
    """Walk ``source`` once for every rule: enter and leave handlers by node type, with
    ``rule.ancestors`` kept up to date. A rule that raises is handed to ``on_error`` and dropped
    for the rest of the file; the others go on. Returns the rules' findings."""
    tree = source.tree
    ancestors: list[ast.AST] = []
    failed: set[int] = set()

    def fail(rule: PythonRule, exc: Exception) -> None:
        failed.add(id(rule))
        on_error(rule, exc)

    enter: dict[str, list[_Handler]] = defaultdict(list)
    leave: dict[str, list[_Handler]] = defaultdict(list)
    for rule in rules:
        rule.source = source
        rule.ancestors = ancestors
        try:
            rule.begin_file()
        except Exception as exc:
            fail(rule, exc)
            continue
        rule_enter, rule_leave = _handlers(type(rule))
        for kind, names in rule_enter.items():
            enter[kind].extend((rule, getattr(rule, name)) for name in names)
        for kind, names in rule_leave.items():
            leave[kind].extend((rule, getattr(rule, name)) for name in names)

    def call(handlers: list[_Handler], node: ast.AST) -> None:
        for rule, method in handlers:
            if id(rule) in failed:
                continue
            try:
                method(node)
            except Exception as exc:  # a bug in one rule must not stop the others
                fail(rule, exc)

    # Iterative walk (deeply nested code that ast accepted must not overflow our stack), with
    # the children read straight from ``_fields``: this loop is the hot path of a cold run.
    stack: list[Any] = [tree]
    AST, pop = ast.AST, stack.pop
    while stack:
        node = pop()
        if node is _LEAVING:
            node = ancestors.pop()
            handlers = leave.get(type(node).__name__)
            if handlers:
                call(handlers, node)
            continue
        handlers = enter.get(type(node).__name__)
        if handlers:
            call(handlers, node)
        ancestors.append(node)
        stack.append(_LEAVING)
        children: list[ast.AST] = []
        for field_name in node._fields:
            value = getattr(node, field_name, None)
            if isinstance(value, AST):
                children.append(value)
            elif isinstance(value, list):
                children.extend(item for item in value if isinstance(item, AST))
        children.reverse()
        stack.extend(children)
    found: list[Diagnostic] = []
    for rule in rules:
        if id(rule) not in failed:
            try:
                rule.end_file()
            except Exception as exc:
                fail(rule, exc)
        found.extend(rule.diagnostics)
        rule.diagnostics = []
    return found
