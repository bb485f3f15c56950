"""Shapes met on upstream's history and wheels that decide what the rules report by default
(issue 10). Each builds a small folder of its own with the shape; no upstream code."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.testing import build_tree, fix_paths, lint_paths

SHARED_LOADER = """\
import torch


def load_weights(path):
    return torch.load(path)
"""


def test_shared_code_is_checked_and_reported_once_at_its_own_path(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {"model.py": None},
        package_files={
            "models/_shared/centernet/__init__.py": "",
            "models/_shared/centernet/model.py": SHARED_LOADER,
        },
        other_models={"second": {}},
    )
    findings = lint_paths([tree.package], select=["QAI502"])
    assert [
        (d.model_id, d.path.relative_to(tree.package).as_posix(), d.start.row) for d in findings
    ] == [("_shared/centernet", "models/_shared/centernet/model.py", 5)]
    # A commit touching only the shared file (as pre-commit passes it) checks that file's folder.
    shared = tree.package / "models/_shared/centernet/model.py"
    assert [d.model_id for d in lint_paths([shared], select=["QAI502"])] == ["_shared/centernet"]
    # --fix repairs shared code too.
    fix_paths([tree.package], select=["QAI502"])
    assert 'map_location="cpu"' in shared.read_text()
    assert lint_paths([tree.package], select=["QAI502"]) == []


def test_templates_of_the_manifest_layout_are_shared_code(tmp_path: Path) -> None:
    from qaihm_lint.workspace import Layout

    tree = build_tree(
        tmp_path,
        {},
        layout=Layout.MANIFEST,
        package_files={"models/templates/diffusion/utils.py": SHARED_LOADER},
    )
    (finding,) = lint_paths([tree.package], select=["QAI502"])
    assert finding.model_id == "templates/diffusion"


def test_model_rules_do_not_run_on_shared_code(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {},
        package_files={"models/_shared/yolo/app.py": "class App:\n    pass\n"},
    )
    # No QAI101 "missing model.py" or QAI103 for a library folder.
    assert [d for d in lint_paths([tree.package]) if d.model_id.startswith("_shared")] == []


def test_quantized_variant_needs_no_task_test_when_its_float_parent_has_one(
    tmp_path: Path,
) -> None:
    demo_only = {"test.py": "def test_demo():\n    pass\n"}
    tree = build_tree(tmp_path, demo_only, model_id="whisper_small_quantized")
    build_tree(tree.root, {}, model_id="whisper_small")
    assert lint_paths([tree.model("whisper_small_quantized")], select=["QAI601"]) == []
    # The parent loses its task test: now the variant's tests check nothing numeric.
    (tree.model("whisper_small") / "test.py").write_text("def test_demo():\n    pass\n")
    (finding,) = lint_paths([tree.model("whisper_small_quantized")], select=["QAI601"])
    assert "test_task" in finding.message


def test_missing_file_findings_sit_on_a_file_that_exists(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {
            "test.py": None,
            "app.py": None,
            "demo.py": None,
            "__init__.py": "from .model import ExampleModel as Model\n",
        },
    )
    findings = lint_paths([tree.model()], select=["QAI101"])
    assert {d.message.split(": ")[0] for d in findings} == {
        "model folder example has no app.py",
        "model folder example has no demo.py",
        "model folder example has no test.py",
    }
    for finding in findings:
        assert finding.path.is_file(), finding.path
        assert finding.path.name == "info.yaml"


def test_a_copied_folder_that_still_points_at_its_original_is_reported(tmp_path: Path) -> None:
    original = {
        "__init__.py": "from qai_hub_models.models.yolov7.app import ExampleApp as App\n"
        "from qai_hub_models.models.yolov7.model import MODEL_ID\n"
        "from qai_hub_models.models.yolov7.model import ExampleModel as Model\n",
        "test.py": "from qai_hub_models.models.yolov7.demo import main as demo_main\n"
        "from qai_hub_models.models.yolov7.model import ExampleModel\n\n\n"
        "def test_task():\n    assert ExampleModel\n\n\n"
        "def test_demo():\n    demo_main(is_test=True)\n",
    }
    tree = build_tree(tmp_path, original, model_id="yolov7")
    # The copy: every file as it was, only the id in info.yaml fixed.
    build_tree(tree.root, original, model_id="mynet")
    assert lint_paths([tree.model("yolov7")], select=["QAI105", "QAI106"]) == []
    findings = lint_paths([tree.model("mynet")], select=["QAI106"])
    assert sorted((d.path.name, d.start.row) for d in findings) == [
        ("__init__.py", 2),
        ("__init__.py", 3),
        ("test.py", 1),
    ]


def test_reusing_another_models_code_is_not_a_copy(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {
            "model.py": "from qai_hub_models.models.yolov3.model import YoloV3\n\n\n"
            "class Example(YoloV3):\n    pass\n",
            "__init__.py": "from qai_hub_models.models.yolov8_det.app import DetApp as App\n"
            "from .model import MODEL_ID\nfrom .model import ExampleModel as Model\n",
        },
    )
    assert lint_paths([tree.model()], select=["QAI106"]) == []
