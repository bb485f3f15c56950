"""The model's unit tests (QAI601, QAI602)."""

from __future__ import annotations

import ast
import re

from qaihm_lint.diagnostics import Applicability, Location
from qaihm_lint.index import dotted
from qaihm_lint.rules.base import Invalid, PythonRule, Valid
from qaihm_lint.rules.files import float_parent, is_generative, is_llm
from qaihm_lint.sources import SourceError, file_at
from qaihm_lint.workspace import Layout, ModelFolder

# Tests that check the PyTorch model's outputs under another name than test_task (end-to-end
# app tests, numerical checks against reference outputs, accuracy tests): the guide's intent.
_TASK_LIKE = re.compile(
    r"^test_(task|app(_|$)|.*_app(_|$)|.*e2e|.*end_to_end|.*numeric|.*accuracy|.*transcri|"
    r".*translat|.*off_target|.*output|.*synthes|.*sample|.*consisten|.*matches|.*reference|"
    r".*predict)"
)
_TRACE_CALLS = ("convert_to_torchscript", "trace")


def _marks(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Marker names on a test (``trace`` for ``@pytest.mark.trace``)."""
    found = set()
    for decorator in function.decorator_list:
        name = dotted(decorator)
        if ".mark." in f".{name}" or name.startswith("mark."):
            found.add(name.rsplit(".", 1)[-1])
    return found


def _module_marks(tree: ast.Module) -> set[str]:
    """``pytestmark = pytest.mark.x`` (or a list of marks) applies to every test."""
    found: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets
        ):
            values = (
                statement.value.elts
                if isinstance(statement.value, (ast.List, ast.Tuple))
                else [statement.value]
            )
            found.update(dotted(v).rsplit(".", 1)[-1] for v in values)
    return found


def _tests(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tests: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for statement in tree.body:
        if isinstance(
            statement, (ast.FunctionDef, ast.AsyncFunctionDef)
        ) and statement.name.startswith("test"):
            tests.append(statement)
        elif isinstance(statement, ast.ClassDef) and statement.name.startswith("Test"):
            tests.extend(
                s
                for s in statement.body
                if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                and s.name.startswith("test")
            )
    return tests


def _demo_is_testable(folder: ModelFolder) -> bool:
    """demo.py's ``main`` takes ``is_test`` (the guide's ``main(is_test=True)``). Without
    demo.py there is nothing to test (QAI101 reports it); a demo whose ``main`` has no
    ``is_test`` runs on a hosted device (grootn15 of 0.65), which a unit test cannot reach."""
    demo = folder.file("demo.py")
    if demo is None:
        return False
    try:
        tree = demo.tree
    except SourceError:
        return False
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "main":
            arguments = statement.args
            return any(
                a.arg == "is_test"
                for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
            ) or (arguments.kwarg is not None)
    return True


def _needs_gpu(test: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``@pytest.mark.skipif(not torch.cuda.is_available(), ...)``: a GPU-only test."""
    return any(
        dotted(decorator).endswith("skipif") and "cuda" in ast.unparse(decorator)
        for decorator in test.decorator_list
    )


def _float_parent_tests_task(folder: ModelFolder) -> bool:
    """``<id>_quantized`` next to ``<id>`` whose test.py has a task test: the quantized variant
    shares the float model's code, and the numerics are tested once, on the float parent."""
    parent = float_parent(folder)
    if parent is None:
        return False
    source = file_at(parent / "test.py")  # noted: the cached verdict depends on the parent's tests
    try:
        tree = source.tree if source is not None else None
    except SourceError:
        return False
    if tree is None:
        return False
    return any(_TASK_LIKE.match(test.name) for test in _tests(tree))


class MissingTest(PythonRule):
    summary = "test.py lacks test_task or test_demo."
    why = (
        "The guide's tests: the PyTorch model is accurate (test_task) and the demo runs "
        "(test_demo). A task test may carry another name when it checks the model's outputs "
        "(`test_e2e_numerical`, `test_<x>_app`). The guide also lists test_trace, but upstream "
        "deleted the per-model trace tests on purpose in 0.4.0 (the generated export and "
        "compile tests trace every model), so a missing test_trace is not reported; a "
        "test_trace that exists must be marked (QAI602). A `<id>_quantized` variant needs no "
        "task test when its float parent `<id>` has one: they share the model code. Diffusion "
        "pipelines and LLMs (`domain: Generative AI`) have no numeric task test in any release."
    )
    files = ("test.py",)
    valid = (
        Valid(),
        Valid(
            "def test_task():\n    pass\n",
            path="test.py",
            files={"demo.py": None},
            note="No trace test: the generated export and compile tests trace the model.",
        ),
        Valid(
            "import pytest\n\n\ndef test_e2e_numerical():\n    pass\n\n\n"
            "@pytest.mark.trace\ndef test_trace():\n    pass\n\n\n"
            "def test_demo():\n    pass\n",
            path="test.py",
            note="A task test under another name.",
        ),
        Valid(
            path="test.py",
            layout=Layout.MANIFEST,
            note="The manifest layout: test_task and test_demo.",
        ),
        Valid(
            "import pytest\nimport torch\n\n\n"
            "@pytest.mark.skipif(not torch.cuda.is_available(), reason='GPU only')\n"
            "def test_one_sample():\n    pass\n",
            path="test.py",
            note="Every test needs a GPU (pi05, grootn15 of 0.65): no CPU test to ask for.",
        ),
        Valid(
            "def test_task():\n    pass\n",
            path="test.py",
            files={"demo.py": "def main() -> None:\n    pass\n"},
            note="A demo that runs on a hosted device (its main takes no is_test).",
        ),
        Valid(
            "def test_create_genie_config():\n    pass\n",
            path="test.py",
            files={"info.yaml": "id: example\nname: Example\nmodel_type_llm: true\n"},
            note="LLMs are tested through the shared chat tooling.",
        ),
    )
    invalid = (
        Invalid(
            "import pytest\n\n\ndef test_task():\n    pass\n\n\n"
            "@pytest.mark.trace\ndef test_trace():\n    pass\n",
            path="test.py",
        ),
        Invalid("def test_demo():\n    pass\n", path="test.py", layout=Layout.MANIFEST),
        Invalid(
            "def test_synthesized_audio():\n    pass\n",
            path="test.py",
            layout=Layout.MANIFEST,
            note="A task test, but no demo test.",
        ),
    )

    def end_file(self) -> None:
        if is_llm(self.folder):
            return
        tree = self.source.tree
        tests = _tests(tree)
        if tests and all(_needs_gpu(t) for t in tests):
            return  # nothing of this model runs on a CPU runner; QAI501 is about the code
        names = [t.name for t in tests]
        required: list[tuple[str, bool]] = [
            (
                "test_task",
                any(_TASK_LIKE.match(n) for n in names)
                or is_generative(self.folder)
                or _float_parent_tests_task(self.folder),
            ),
            # Without demo.py there is nothing to test (QAI101 reports the missing demo).
            (
                "test_demo",
                any(n.startswith("test_demo") for n in names) or not _demo_is_testable(self.folder),
            ),
        ]
        end = Location(1, len(self.source.line(1)) + 1)
        for name, present in required:
            if present:
                continue
            what = {
                "test_task": "a test of the PyTorch model's accuracy on sample data",
                "test_demo": "a test that runs the demo (`main(is_test=True)`)",
            }[name]
            self.report(
                self.source,
                f"test.py of {self.folder.model_id} has no {name}: add {what}",
                start=Location(1, 1),
                end=end,
                anchor=f"missing:{name}",
            )


def _is_trace_test(name: str) -> bool:
    """``test_trace``, ``test_trace_decoder``, ``test_stylegan2_trace``: a tracing test."""
    return name.startswith("test_trace") or (name.startswith("test_") and "_trace" in name)


class TraceTestWithoutMarker(PythonRule):
    summary = "test_trace lacks `@pytest.mark.trace`."
    why = (
        "CI selects and schedules the slow tracing tests by their marker; an unmarked trace "
        "test runs with the quick unit tests (or is skipped where tracing is deselected)."
    )
    fix_applicability = Applicability.SAFE
    fix_note = "Adds `@pytest.mark.trace` above the test, and `import pytest` when missing."
    files = ("test.py",)
    valid = (
        Valid(path="test.py"),
        Valid(
            "import pytest\n\npytestmark = [pytest.mark.trace]\n\n\ndef test_trace():\n    pass\n",
            path="test.py",
        ),
        Valid(
            "from pytest import mark\n\n\n@mark.parametrize('x', [1])\n@mark.trace\n"
            "def test_trace(x):\n    pass\n",
            path="test.py",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.models.example.model import ExampleModel\n\n\n"
            "def test_task():\n    pass\n\n\n"
            "# Trace the model.\ndef test_trace():\n    pass\n",
            path="test.py",
            fixed="import pytest\n\n"
            "from qai_hub_models.models.example.model import ExampleModel\n\n\n"
            "def test_task():\n    pass\n\n\n"
            "# Trace the model.\n@pytest.mark.trace\ndef test_trace():\n    pass\n",
        ),
        Invalid(
            "import pytest\n\n\ndef test_stylegan2_trace():\n    pass\n",
            path="test.py",
            fixed="import pytest\n\n\n@pytest.mark.trace\ndef test_stylegan2_trace():\n    pass\n",
            note="A tracing test under another name (stylegan2, v0.3).",
        ),
        Invalid(
            "import pytest\n\n\n@pytest.mark.skip(reason='slow')\ndef test_trace():\n    pass\n",
            path="test.py",
            fixed="import pytest\n\n\n@pytest.mark.trace\n@pytest.mark.skip(reason='slow')\n"
            "def test_trace():\n    pass\n",
        ),
    )

    def end_file(self) -> None:
        from qaihm_lint.fixers.python_fixes import add_trace_marker

        tree = self.source.tree
        if "trace" in _module_marks(tree):
            return
        for statement in tree.body:
            if not isinstance(
                statement, (ast.FunctionDef, ast.AsyncFunctionDef)
            ) or not _is_trace_test(statement.name):
                continue
            if "trace" in _marks(statement):
                continue
            self.report_here(
                statement,
                f"{statement.name} is not marked: add @pytest.mark.trace so CI "
                "schedules it with the tracing tests",
                fix=self.cst_fix(add_trace_marker(statement.name), "add @pytest.mark.trace"),
            )
