"""``get_hub_litemp_percentage`` returns a percentage (QAI206)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from qaihm_lint.rules.base import Invalid, PythonRule, Valid


class LitempPercentageRange(PythonRule):
    triggers = ("get_hub_litemp_percentage",)
    code = "QAI206"
    slug = "litemp-percentage-range"
    summary = "get_hub_litemp_percentage returns a literal outside 0-100."
    why = (
        "The value is the percentage of sensitive layers kept in higher precision for mixed "
        "precision; a fraction (0.1 meaning 10 %) or a value above 100 is silently wrong."
    )
    files = ("*.py",)
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
    )

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name != "get_hub_litemp_percentage":
            return
        for inner in ast.walk(node):
            if isinstance(inner, ast.Return) and inner.value is not None:
                for value in _literal_values(inner.value):
                    number, literal = value
                    if not 0 <= number <= 100:
                        self.report_here(
                            literal,
                            f"get_hub_litemp_percentage returns {number}, outside "
                            "0-100: return a percentage of layers (e.g. 10 for 10 %)",
                        )

    visit_AsyncFunctionDef = visit_FunctionDef


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
