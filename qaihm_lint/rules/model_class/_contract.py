"""What the checked tree's own framework asks of a model class (issue 17: the tree is the spec).

Upstream changes its base classes every few releases: the spec methods were static until 0.53,
instance methods from 0.54 on; 0.53 began to generate ``get_output_names`` from
``get_output_spec`` in ``HubModel.__init_subclass__``; the manifest layout's ``WorkbenchModel``
derives ``get_output_names`` from an abstract ``get_output_spec``. So the rules do not encode a
release: they read, through the index, how the framework classes in the model's own MRO declare
each method.

* ``declaration``: the framework's definition of a method (static, class or instance method,
  abstract or concrete), the first one along the MRO after the model code.
* ``generated_from``: the methods from which the framework's ``__init_subclass__`` generates
  another one (``if "get_output_spec" in cls.__dict__ ...: cls.get_output_names = ...``).
* ``delegates_to``: the abstract methods a concrete framework definition calls on ``self`` or
  ``cls`` (``get_output_names`` returning ``self.get_output_spec().keys()``): a model must then
  provide those instead.

The framework is whatever lies outside the model code (``index.is_framework_code``).
"""

from __future__ import annotations

import ast

from qaihm_lint.index import Definition, MethodInfo, Mro, Resolver, is_framework_code


def declaration(mro: Mro, name: str) -> Definition | None:
    """The framework's own definition of ``name`` in this MRO (the first one after the model
    code), whatever the model classes define."""
    for cls in mro.classes:
        if not is_framework_code(cls):
            continue
        found = cls.methods.get(name)
        if found is not None:
            return Definition(cls, found)
    return None


def callable_on_class(method: MethodInfo) -> bool:
    return method.is_static or method.is_classmethod


def _in_class_dict(test: ast.expr) -> set[str]:
    """The names a test requires to be in ``cls.__dict__`` (``"x" in cls.__dict__``)."""
    names: set[str] = set()
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    for part in parts:
        if (
            isinstance(part, ast.Compare)
            and len(part.ops) == 1
            and isinstance(part.ops[0], ast.In)
            and isinstance(part.left, ast.Constant)
            and isinstance(part.left.value, str)
            and ast.unparse(part.comparators[0]).endswith(".__dict__")
        ):
            names.add(part.left.value)
    return names


def _assigned_on_class(body: list[ast.stmt], first: str) -> set[str]:
    """Attributes the statements bind on the class (``cls.name = ...``)."""
    bound: set[str] = set()
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == first
                    ):
                        bound.add(target.attr)
    return bound


def generated_from(resolver: Resolver, mro: Mro, name: str) -> list[str]:
    """Methods from any of which the framework's ``__init_subclass__`` generates ``name``."""
    sources: list[str] = []
    for cls in mro.classes:
        method = cls.methods.get("__init_subclass__")
        if method is None or not is_framework_code(cls):
            continue
        node = resolver.definition(cls, method)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.args.args:
            continue
        first = node.args.args[0].arg
        for statement in ast.walk(node):
            if isinstance(statement, ast.If) and name in _assigned_on_class(statement.body, first):
                sources += sorted(_in_class_dict(statement.test) - {name})
    return list(dict.fromkeys(sources))


def delegates_to(resolver: Resolver, mro: Mro, found: Definition) -> list[str]:
    """The methods a concrete framework definition calls on ``self``/``cls`` that are abstract
    for this class (nothing in the MRO provides them concretely)."""
    if not is_framework_code(found.owner) or not found.method.concrete:
        return []
    node = resolver.definition(found.owner, found.method)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.args.args:
        return []
    first = node.args.args[0].arg
    wanted: list[str] = []
    for call in ast.walk(node):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == first
        ):
            target = mro.lookup(call.func.attr)
            if target is not None and not target.method.concrete:
                wanted.append(call.func.attr)
    return list(dict.fromkeys(wanted))
