"""The peer for the benchmark: one rule of ours written as a Fixit 2 rule.

It checks what QAI202 checks in the simplest form: a ``from_pretrained`` defined in a class must
be decorated with ``@classmethod``. Fixit parses every file with libcst and runs the rule.
"""

from __future__ import annotations

import libcst as cst
from fixit import LintRule


class FromPretrainedClassmethod(LintRule):
    MESSAGE = "from_pretrained must be a classmethod"

    def __init__(self) -> None:
        super().__init__()
        self.class_depth = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.class_depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.class_depth -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.class_depth and node.name.value == "from_pretrained":
            names = {
                d.decorator.value for d in node.decorators if isinstance(d.decorator, cst.Name)
            }
            if "classmethod" not in names:
                self.report(node)
