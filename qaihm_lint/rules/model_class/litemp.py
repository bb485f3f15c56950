"""``get_hub_litemp_percentage`` returns a percentage (QAI206).

Checked where it is written, in any hand-written file of the folder, and as each model class of
the folder really has it (through the index, like the other model-class rules): a definition
inherited from outside the folder (``models/_shared/``) is reported at the class that inherits
it. A folder rule, not a Python rule: the inherited case concerns every file that defines a
class, and walking all of them for one method name cost a third of a cold run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import is_local, where
from qaihm_lint.rules.model_class._examples import INIT, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import AnalysedRule, definition_span
from qaihm_lint.sources import SourceError

NAME = "get_hub_litemp_percentage"
_SHARED_BASE = """\
from qai_hub_models.utils.base_model import BaseModel


class Yolo(BaseModel):
    def get_hub_litemp_percentage(self, precision) -> float:
        return {value}
"""


class LitempPercentageRange(AnalysedRule):
    summary = "get_hub_litemp_percentage returns a literal outside 0-100."
    why = (
        "The value is the percentage of sensitive layers kept in higher precision for mixed "
        "precision; a fraction (0.1 meaning 10 %) or a value above 100 is silently wrong."
    )
    valid = (
        Valid(
            "class ExampleModel:\n"
            "    @staticmethod\n    def get_hub_litemp_percentage(precision) -> float:\n"
            "        return 10 if precision else 0.0\n"
        ),
    )
    invalid = (
        Invalid(
            "class ExampleModel:\n"
            "    @staticmethod\n    def get_hub_litemp_percentage(precision) -> float:\n"
            "        return 150\n"
        ),
        Invalid(
            "class ExampleModel:\n"
            "    def get_hub_litemp_percentage(self, precision) -> float:\n"
            "        if precision:\n            return -5\n        return 50\n"
        ),
        Invalid(
            YOLO_MODEL,
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_BASE.format(value=150),
            },
            note="Inherited from a _shared base: reported at the class that inherits it.",
        ),
    )

    def check(self) -> None:
        for source in self.folder.python_files():
            try:
                tree = source.tree if NAME in source.text else None
            except SourceError:
                continue  # QAI000 says why
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == NAME:
                    for number, literal in _out_of_range(node):
                        self.report_node(
                            source,
                            literal,
                            f"{NAME} returns {number}, outside "
                            "0-100: return a percentage of layers (e.g. 10 for 10 %)",
                        )
        self._check_inherited()

    def _check_inherited(self) -> None:
        analysis = self.analysis()
        for cls, mro in analysis.local_models:
            source = self.source_of(cls.path)
            found = mro.lookup(NAME)
            if source is None or found is None or is_local(analysis.view, found.owner.path):
                continue  # a definition in the folder is reported where it is written
            between = mro.classes[1 : mro.classes.index(found.owner)]
            if any(is_local(analysis.view, base.path) for base in between):
                continue  # reported once, at the folder's class that inherits it first
            node = analysis.view.definition(found.owner, found.method)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            wrong = [number for number, _ in _out_of_range(node)]
            if not wrong:
                continue
            start, end = definition_span(source, cls)
            self.report(
                source,
                f"{cls.name} inherits {NAME} from {found.owner.name} "
                f"({where(analysis.view, found.owner, found.method)}), which returns {wrong[0]}, "
                "outside 0-100: return a percentage of layers (e.g. 10 for 10 %)",
                start=start,
                end=end,
                anchor=f"{cls.name}.{NAME}",
            )


def _out_of_range(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
) -> Iterator[tuple[float, ast.expr]]:
    """The literals the function returns that are not a percentage."""
    for inner in ast.walk(function):
        if isinstance(inner, ast.Return) and inner.value is not None:
            for number, literal in _literal_values(inner.value):
                if not 0 <= number <= 100:
                    yield number, literal


def _literal_values(node: ast.expr) -> Iterator[tuple[float, ast.expr]]:
    if isinstance(node, ast.IfExp):
        yield from _literal_values(node.body)
        yield from _literal_values(node.orelse)
        return
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        yield -node.operand.value, node
        return
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        yield node.value, node
