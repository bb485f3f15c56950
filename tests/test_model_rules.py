"""Regression tests for the model-code rules: each false positive met on the real wheels, as
a small synthetic folder reproducing its shape (no corpus code)."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.testing import MANIFEST_YAML, build_tree, lint_paths
from qaihm_lint.workspace import Layout

SAR = "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n"
FULL = "4c50fd3a46bdf63dbf2082c5cbb3458d39579e6c"


def _codes(
    tmp_path: Path,
    files: dict[str, str | None],
    select: list[str],
    package_files: dict[str, str] | None = None,
    layout: Layout = Layout.INFO,
    **settings: object,
) -> list[str]:
    tree = build_tree(tmp_path, files, package_files=package_files or {}, layout=layout)
    return [
        f"{d.code} {d.path.name}:{d.start.row}"
        for d in lint_paths([tree.model()], select=select, **settings)
    ]


def test_default_folder_is_clean_for_every_model_rule(tmp_path: Path) -> None:
    assert (
        _codes(tmp_path, {}, ["QAI102", "QAI104", "QAI2", "QAI4", "QAI5", "QAI6", "QAI703"]) == []
    )


def test_manifest_default_folder_is_clean(tmp_path: Path) -> None:
    assert (
        _codes(tmp_path, {}, ["QAI102", "QAI2", "QAI4", "QAI5", "QAI6"], layout=Layout.MANIFEST)
        == []
    )


# -- collections -------------------------------------------------------------------------------

COLLECTION_SHARED = """\
from qai_hub_models.utils.base_model import BaseModel


class Detectron(BaseModel):
    @classmethod
    def from_pretrained(cls, config: str):
        return cls()

    @staticmethod
    def get_input_spec():
        return {}

    @staticmethod
    def get_output_names():
        return ["x"]
"""

COLLECTION_MODEL = """\
from qai_hub_models.models._shared.detectron.model import Detectron
from qai_hub_models.utils.base_model import CollectionModel


class Proposals(Detectron):
    pass


@CollectionModel.add_component(Proposals)
class ExampleModel(CollectionModel):
{body}
"""


def test_components_may_require_arguments_when_the_collection_builds_them(tmp_path: Path) -> None:
    # Shape: a collection overriding from_pretrained with defaults; components inherit a
    # `_shared` from_pretrained(config) without one (detectron2_detection).
    body = (
        "    @classmethod\n    def from_pretrained(cls, config: str = 'a.yaml'):\n"
        "        return cls(Proposals.from_pretrained(config))\n"
    )
    assert (
        _codes(
            tmp_path,
            {"model.py": COLLECTION_MODEL.format(body=body)},
            ["QAI203"],
            {
                "models/_shared/detectron/__init__.py": "",
                "models/_shared/detectron/model.py": COLLECTION_SHARED,
            },
        )
        == []
    )


def test_components_without_collection_override_are_checked(tmp_path: Path) -> None:
    codes = _codes(
        tmp_path,
        {"model.py": COLLECTION_MODEL.format(body="    pass\n")},
        ["QAI203"],
        {
            "models/_shared/detectron/__init__.py": "",
            "models/_shared/detectron/model.py": COLLECTION_SHARED,
        },
    )
    assert codes == ["QAI203 model.py:5"]


MANIFEST_COLLECTION = """\
from qai_hub_models.utils.base_model import BaseModel, CollectionModel


class Encoder(BaseModel):
    @classmethod
    def from_pretrained(cls):
        return cls()

    def get_input_spec(self):
        return {{}}

    def get_output_spec(self):
        return {{}}


class ExampleModel(CollectionModel):
    def __init__(self, encoder: {annotation}) -> None:
        self.encoder = encoder

    @classmethod
    def from_pretrained(cls):
        return cls(Encoder.from_pretrained())
"""


def test_annotated_framework_base_is_not_a_component(tmp_path: Path) -> None:
    # Shape: a manifest-layout collection whose __init__ is annotated with the framework's
    # own base (trocr) or an abstract template base (wedetect).
    assert (
        _codes(
            tmp_path,
            {"model.py": MANIFEST_COLLECTION.format(annotation="BaseModel")},
            ["QAI201"],
            layout=Layout.MANIFEST,
        )
        == []
    )


def test_annotated_local_component_is_checked(tmp_path: Path) -> None:
    broken = MANIFEST_COLLECTION.format(annotation="Encoder").replace(
        "    def get_output_spec(self):\n        return {}\n", ""
    )
    assert _codes(tmp_path, {"model.py": broken}, ["QAI201"], layout=Layout.MANIFEST) == [
        "QAI201 model.py:4"
    ]


def test_manifest_get_output_names_derives_from_get_output_spec(tmp_path: Path) -> None:
    model = """\
from qai_hub_models.utils.base_model import BaseModel


class ExampleModel(BaseModel):
    @classmethod
    def from_pretrained(cls):
        return cls()

    def get_input_spec(self):
        return {}

    def get_output_spec(self):
        return {"out": None}
"""
    assert _codes(tmp_path, {"model.py": model}, ["QAI201", "QAI204"], layout=Layout.MANIFEST) == []


def test_model_without_export_found_in_model_py(tmp_path: Path) -> None:
    broken = """\
from qai_hub_models.utils.base_model import BaseModel


class ExampleModel(BaseModel):
    @classmethod
    def from_pretrained(cls, weights):
        return cls()

    @staticmethod
    def get_input_spec():
        return {}

    @staticmethod
    def get_output_names():
        return []
"""
    assert _codes(tmp_path, {"model.py": broken, "__init__.py": None}, ["QAI203"]) == [
        "QAI203 model.py:6"
    ]


# -- SourceAsRoot ------------------------------------------------------------------------------


def test_partial_alias_commit_is_followed_to_shared(tmp_path: Path) -> None:
    shared = (
        "from functools import partial\n\n"
        + SAR
        + "\nRepoAsRoot = partial(SourceAsRoot, 'https://github.com/a/b', 'abc1234', 'b', 1)\n"
    )
    model = (
        "from qai_hub_models.models._shared.repo.utils import RepoAsRoot\n\n\n"
        "def load():\n    with RepoAsRoot() as path:\n        return path\n"
    )
    assert _codes(
        tmp_path,
        {"demo_helpers.py": model},
        ["QAI401", "QAI402"],
        {"models/_shared/repo/__init__.py": "", "models/_shared/repo/utils.py": shared},
    ) == ["QAI401 demo_helpers.py:5"]


def test_commit_imported_from_another_module(tmp_path: Path) -> None:
    shared = f"COMMIT = '{FULL}'\nURL = 'https://github.com/a/b'\n"
    model = (
        SAR + "from qai_hub_models.models._shared.seg.model import COMMIT, URL\n\n\n"
        "def load():\n    with SourceAsRoot(URL, COMMIT, 'b', 1):\n        pass\n"
    )
    assert (
        _codes(
            tmp_path,
            {"helpers.py": model},
            ["QAI401"],
            {"models/_shared/seg/__init__.py": "", "models/_shared/seg/model.py": shared},
        )
        == []
    )


def test_patch_constant_resolves_relative_to_its_defining_module(tmp_path: Path) -> None:
    shared = (
        "import os\n\nPATCHES = [os.path.join(os.path.dirname(__file__), 'patches', 'fix.diff')]\n"
    )
    model = (
        SAR + "from qai_hub_models.models._shared.seg.model import PATCHES\n\n\n"
        f"def load():\n    with SourceAsRoot('https://github.com/a/b', '{FULL}', 'b', 1, "
        "source_repo_patches=PATCHES):\n        pass\n"
    )
    package = {"models/_shared/seg/__init__.py": "", "models/_shared/seg/model.py": shared}
    assert _codes(tmp_path / "a", {"helpers.py": model}, ["QAI404"], package) == [
        "QAI404 helpers.py:6"
    ]
    package["models/_shared/seg/patches/fix.diff"] = "--- a\n"
    assert _codes(tmp_path / "b", {"helpers.py": model}, ["QAI404"], package) == []


def test_sys_path_inside_multi_item_with(tmp_path: Path) -> None:
    # Shape: `with (SourceAsRoot(...) as root, tmp_os_env(...)):` then a sys.path edit.
    model = (
        "import sys\n\n" + SAR + "\n\ndef load(env):\n"
        f"    with (\n        SourceAsRoot('https://github.com/a/b', '{FULL}', 'b', 1) "
        "as root,\n        env(),\n    ):\n        sys.path.append(root)\n"
    )
    assert _codes(tmp_path, {"helpers.py": model}, ["QAI406", "QAI402"]) == []


def test_known_pip_installable_setting(tmp_path: Path) -> None:
    model = (
        SAR + f"\n\ndef load():\n    with SourceAsRoot('https://github.com/x/Real-ESRGAN', "
        f"'{FULL}', 'r', 1):\n        pass\n"
    )
    assert _codes(tmp_path / "a", {"helpers.py": model}, ["QAI403"]) == []
    assert _codes(
        tmp_path / "b", {"helpers.py": model}, ["QAI403"], known_pip_installable=("realesrgan",)
    ) == ["QAI403 helpers.py:5"]


def test_manifest_external_repo_short_sha(tmp_path: Path) -> None:
    manifest = MANIFEST_YAML + (
        "external_repos:\n  up:\n    repo_url: https://github.com/a/b\n    commit_sha: main\n"
    )
    assert _codes(tmp_path, {"manifest.yaml": manifest}, ["QAI401"], layout=Layout.MANIFEST) == [
        "QAI401 manifest.yaml:16"
    ]


# -- GPU ---------------------------------------------------------------------------------------


def test_cuda_in_skipif_keyword_is_not_flagged(tmp_path: Path) -> None:
    test = (
        "import pytest\nimport torch\n\n\n@pytest.mark.skipif(not torch.cuda.is_available(),"
        " reason='cuda')\ndef test_gpu():\n    pass\n"
    )
    assert _codes(tmp_path, {"test_gpu_helpers.py": test}, ["QAI501"]) == []


def test_cuda_chosen_only_on_request(tmp_path: Path) -> None:
    model = (
        "import torch\n\n\ndef load(gpu_id=-1):\n    return torch.device('cpu') if "
        "gpu_id == -1 else torch.device('cuda', gpu_id)\n"
    )
    assert _codes(tmp_path, {"helpers.py": model}, ["QAI501"]) == []


def test_torch_load_imported_inside_function(tmp_path: Path) -> None:
    model = "def load(p):\n    import torch\n\n    return torch.load(p)\n"
    assert _codes(tmp_path, {"helpers.py": model}, ["QAI502"]) == ["QAI502 helpers.py:4"]


def test_other_load_functions_are_not_torch_load(tmp_path: Path) -> None:
    model = (
        "import json\nimport numpy as np\n\n\ndef load(p):\n    return json.load(p), np.load(p)\n"
    )
    assert _codes(tmp_path, {"helpers.py": model}, ["QAI502"]) == []


# -- tests -------------------------------------------------------------------------------------


def test_task_tests_under_other_names(tmp_path: Path) -> None:
    for number, name in enumerate(
        (
            "test_e2e_numerical",
            "test_face_app",
            "test_numerics",
            "test_off_target_numerical",
            "test_synthesized_audio",
            "test_output",
        )
    ):
        test = (
            f"import pytest\n\n\ndef {name}():\n    pass\n\n\n@pytest.mark.trace\n"
            "def test_trace():\n    pass\n\n\ndef test_demo():\n    pass\n"
        )
        assert _codes(tmp_path / str(number), {"test.py": test}, ["QAI601"]) == [], name


def test_llm_folders_are_exempt(tmp_path: Path) -> None:
    manifest = MANIFEST_YAML + "model_type_llm: true\n"
    assert (
        _codes(
            tmp_path,
            {"manifest.yaml": manifest, "test.py": "def test_create_genie_config():\n    pass\n"},
            ["QAI601"],
            layout=Layout.MANIFEST,
        )
        == []
    )


def test_precompiled_models_need_no_trace_test(tmp_path: Path) -> None:
    model = (
        "from qai_hub_models.utils.base_model import BasePrecompiledModel\n\n\n"
        "class ExampleModel(BasePrecompiledModel):\n    pass\n"
    )
    test = "def test_task():\n    pass\n\n\ndef test_demo():\n    pass\n"
    assert _codes(tmp_path, {"model.py": model, "test.py": test}, ["QAI601", "QAI2"]) == []


def test_no_demo_test_required_without_demo(tmp_path: Path) -> None:
    test = "def test_task():\n    pass\n"
    assert (
        _codes(tmp_path, {"demo.py": None, "test.py": test}, ["QAI601"], layout=Layout.MANIFEST)
        == []
    )


def test_inherited_litemp_percentage_is_reported_once_per_folder(tmp_path: Path) -> None:
    """QAI206 reads the method as each model class has it: a value inherited from _shared is
    reported at the folder's class that inherits it first, not again at its own subclasses,
    and a definition in the folder overrides the inherited one."""
    shared = {
        "models/_shared/det/__init__.py": "",
        "models/_shared/det/model.py": "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
        "class Detector(BaseModel):\n"
        "    def get_hub_litemp_percentage(self, precision) -> float:\n"
        "        return 150\n",
    }
    model = (
        "from qai_hub_models.models._shared.det.model import Detector\n\n\n"
        "class ExampleBase(Detector):\n    pass\n\n\n"
        "class ExampleModel(ExampleBase):\n    pass\n"
    )
    assert _codes(tmp_path / "a", {"model.py": model}, ["QAI206"], shared) == ["QAI206 model.py:4"]
    fixed = model.replace(
        "class ExampleBase(Detector):\n    pass\n",
        "class ExampleBase(Detector):\n"
        "    def get_hub_litemp_percentage(self, precision) -> float:\n        return 10\n",
    )
    assert _codes(tmp_path / "b", {"model.py": fixed}, ["QAI206"], shared) == []


def test_quantized_variant_is_tested_on_its_float_parent(tmp_path: Path) -> None:
    # 0.17-0.25: `<id>_quantized` folders shared the float model's code and its test.py.
    tree = build_tree(
        tmp_path, {"test.py": None}, model_id="resnet_quantized", other_models={"resnet": {}}
    )
    assert lint_paths([tree.model("resnet_quantized")], select=["QAI101"]) == []
    (tree.model("resnet") / "test.py").unlink()
    (finding,) = lint_paths([tree.model("resnet_quantized")], select=["QAI101"])
    assert "has no test.py" in finding.message
