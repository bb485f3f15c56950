"""Rules the engine itself raises: unreadable files, unused suppressions, failing rules."""

from __future__ import annotations

from qaihm_lint.diagnostics import Applicability, Severity
from qaihm_lint.rules._examples import GOOD_INFO
from qaihm_lint.rules.base import Invalid, Rule, Valid

# A clean info.yaml whose `id` line an example rewrites.
INFO_WITH_ID = GOOD_INFO.replace("{", "{{").replace("}", "}}").replace("id: example", "{line}")


class SyntaxErrorRule(Rule):
    summary = "A file the linter must parse cannot be read, decoded or parsed."
    why = (
        "Every other rule on the file is blind until it parses, and Python will refuse to import "
        "it too. Reported as a finding (with the parser's line and column) instead of a crash, "
        "so the rest of the tree is still checked."
    )
    valid = (Valid("x = 1\n", path="demo.py"),)
    invalid = (
        Invalid("def main(:\n    pass\n", path="demo.py"),
        Invalid("if True:\n  x = 1\n    y = 2\n", path="app.py"),
    )


class UnusedNoqa(Rule):
    summary = (
        "A `# noqa` or `# qaihm-lint: ignore[...]` for a QAI code that suppresses nothing on its "
        "line (or in its file)."
    )
    why = (
        "A stale suppression hides the next real finding of that code on the same line. Codes of "
        "other tools (`# noqa: F401`) and bare `# noqa` are left alone: they may serve another "
        "linter."
    )
    severity = Severity.WARNING
    fix_applicability = Applicability.SAFE
    fix_note = (
        "Removes the unused codes, or the whole directive when no code is left. A prefix or a "
        "mistyped code is never removed (it was meant for something): the finding names the "
        "codes it may mean, and when one is reported on that line an unsafe fix writes it in."
    )
    valid = (
        Valid(
            INFO_WITH_ID.format(line="id: other  # noqa: QAI701"),
            path="info.yaml",
            also_select=("QAI701",),
            note="The directive silences a real QAI701 finding.",
        ),
        Valid(
            "import os  # noqa: F401\n",
            path="demo.py",
            note="Other tools' codes are not ours to judge.",
        ),
    )
    invalid = (
        Invalid(
            INFO_WITH_ID.format(line="id: example  # noqa: QAI701"),
            path="info.yaml",
            fixed=INFO_WITH_ID.format(line="id: example"),
            also_select=("QAI701",),
        ),
        Invalid(
            "import os  # noqa: F401, QAI000\n",
            path="demo.py",
            fixed="import os  # noqa: F401\n",
            also_select=("QAI000",),
        ),
    )


class InternalError(Rule):
    summary = "A rule raised an exception on this file; the run went on without it."
    why = (
        "A crash in one rule must not hide every other finding. The message names the rule and "
        "the exception: please report it with the file that triggers it."
    )
