"""Adding an import to a module's leading import block the way isort and ruff lay it out (for
fixes that introduce a name, such as ``@pytest.mark.trace``)."""

from __future__ import annotations

import sys

import libcst as cst

from qaihm_lint.workspace import PACKAGE_NAME


def imports(module: cst.Module, wanted: str) -> bool:
    """Whether the module has a top-level plain ``import wanted`` (not renamed)."""
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        name = alias.name
                        if (
                            alias.asname is None
                            and isinstance(name, cst.Name)
                            and name.value == wanted
                        ):
                            return True
    return False


def _import_section(statement: cst.CSTNode) -> tuple[int, bool, str] | None:
    """(section, is ``from`` import, module) of a top-level import line, in isort's order:
    0 ``__future__``, 1 standard library, 2 third party, 3 first party (the package and relative
    imports); None for anything else."""
    if not isinstance(statement, cst.SimpleStatementLine) or not statement.body:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Import):
        name = cst.Module([]).code_for_node(small.names[0].name)
        is_from = False
    elif isinstance(small, cst.ImportFrom):
        if small.relative:
            return (3, True, "")
        if small.module is None:
            return None
        name = cst.Module([]).code_for_node(small.module)
        is_from = True
    else:
        return None
    top = name.split(".")[0]
    if top == "__future__":
        section = 0
    elif top == PACKAGE_NAME:
        section = 3
    elif top in sys.stdlib_module_names:
        section = 1
    else:
        section = 2
    return (section, is_from, name.lower())


def add_import(module: cst.Module, text: str, section: int = 2) -> cst.Module:
    """Add a plain ``import x`` (a third-party one by default) to the leading import block where
    isort and ruff would put it: in its section, among the plain imports, in name order; as a
    new section, separated by blank lines, when the block has none of its kind."""
    statement = cst.parse_statement(text)
    name = text.split()[1].lower()
    body = list(module.body)
    block: list[tuple[int, tuple[int, bool, str]]] = []
    for index, item in enumerate(body):
        key = _import_section(item)
        if key is None:
            if index == 0 and _is_doc(item):
                continue
            break
        block.append((index, key))
    blank = cst.EmptyLine(indent=False, whitespace=cst.SimpleWhitespace(""))
    same = [(i, key) for i, key in block if key[0] == section]
    if same:
        # Before the first of its section that sorts after it (plain imports come first).
        for index, (_, is_from, other) in same:
            if is_from or other > name:
                taken = body[index]
                assert isinstance(taken, cst.SimpleStatementLine)
                body[index] = taken.with_changes(leading_lines=[])
                body.insert(index, statement.with_changes(leading_lines=taken.leading_lines))
                return module.with_changes(body=body)
        body.insert(same[-1][0] + 1, statement)
        return module.with_changes(body=body)
    before = [i for i, key in block if key[0] < section]
    after = [i for i, key in block if key[0] > section]
    if after:
        index = after[0]
        taken = body[index]
        assert isinstance(taken, cst.SimpleStatementLine)
        leading = taken.leading_lines if not before else [blank]
        body[index] = taken.with_changes(leading_lines=[blank])
        body.insert(index, statement.with_changes(leading_lines=leading))
    elif before:
        body.insert(before[-1] + 1, statement.with_changes(leading_lines=[blank]))
    else:
        # No import at all: after a docstring, if any.
        at = 1 if body and _is_doc(body[0]) else 0
        body.insert(at, statement)
    return module.with_changes(body=body)


def _is_doc(item: cst.CSTNode) -> bool:
    return (
        isinstance(item, cst.SimpleStatementLine)
        and isinstance(item.body[0], cst.Expr)
        and isinstance(item.body[0].value, cst.SimpleString)
    )
