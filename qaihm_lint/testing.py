"""Build small synthetic ``qai_hub_models`` trees and lint them: the harness behind every rule's
VALID/INVALID examples, and handy for anyone writing a rule.

The baseline folder is complete and clean for every rule; an example only states what differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.config import Settings
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine import FixOutcome, lint, lint_with_fixes, make_plan
from qaihm_lint.rules._eras import STATIC_ERA, WORKBENCH_ERA
from qaihm_lint.rules.base import Example
from qaihm_lint.workspace import PACKAGE_NAME, Layout, discover

MODEL_ID = "example"

SOURCE_AS_ROOT_PY = """\
class SourceAsRoot:
    def __init__(
        self,
        source_repo_url,
        source_repo_commit_hash,
        source_repo_name,
        source_repo_version,
        source_repo_patches=None,
        keep_sys_modules=False,
    ):
        pass

    def __enter__(self):
        return "/tmp/repo"

    def __exit__(self, *exc):
        return False
"""

GLOBAL_REQUIREMENTS = "torch>=2.1,<2.9\nnumpy>=1.26,<3\nPillow>10,<12\n"

MODEL_PY = """\
from __future__ import annotations

import torch

from qai_hub_models.utils.base_model import BaseModel
from qai_hub_models.utils.input_spec import InputSpec

MODEL_ID = __name__.split(".")[-2]
MODEL_ASSET_VERSION = 1


class ExampleModel(BaseModel):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    @classmethod
    def from_pretrained(cls, weights: str = "default") -> ExampleModel:
        return cls(torch.nn.Conv2d(3, 8, 3))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)

    @staticmethod
    def get_input_spec(height: int = 224, width: int = 224) -> InputSpec:
        return {"image": ((1, 3, height, width), "float32")}

    @staticmethod
    def get_output_names() -> list[str]:
        return ["features"]
"""

# The manifest layout's framework derives get_output_names from the abstract get_output_spec.
MANIFEST_MODEL_PY = (
    MODEL_PY.replace(
        "    @staticmethod\n    def get_input_spec(height",
        "    def get_input_spec(self, height",
    )
    .replace("    @staticmethod\n    def get_output_names()", "    def get_output_spec(self)")
    .replace(
        '-> list[str]:\n        return ["features"]', '-> dict:\n        return {"features": None}'
    )
)

# A base model class in shared code (``models/_shared/family/model.py``) that a model inherits
# from_pretrained and get_output_names from.
SHARED_BASE_PY = (
    "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
    "class SharedBase(BaseModel):\n"
    "    @classmethod\n"
    "    def from_pretrained(cls):\n"
    "        return cls()\n\n"
    "    @staticmethod\n"
    "    def get_output_names():\n"
    "        return ['y']\n"
)

APP_PY = """\
from collections.abc import Callable


class ExampleApp:
    def __init__(self, model: Callable) -> None:
        self.model = model

    def predict(self, image):
        return self.model(image)
"""

DEMO_PY = """\
from qai_hub_models.models.example.app import ExampleApp
from qai_hub_models.models.example.model import ExampleModel


def main(is_test: bool = False) -> None:
    app = ExampleApp(ExampleModel.from_pretrained())
    print(app)


if __name__ == "__main__":
    main()
"""

TEST_PY = """\
import pytest

from qai_hub_models.models.example.demo import main as demo_main
from qai_hub_models.models.example.model import ExampleModel


def test_task() -> None:
    assert ExampleModel.from_pretrained() is not None


@pytest.mark.trace
def test_trace() -> None:
    assert ExampleModel.get_output_names() == ["features"]


def test_demo() -> None:
    demo_main(is_test=True)
"""

MANIFEST_TEST_PY = """\
from qai_hub_models.models.example.demo import main as demo_main
from qai_hub_models.models.example.model import ExampleModel


def test_task() -> None:
    assert ExampleModel.from_pretrained() is not None


def test_demo() -> None:
    demo_main(is_test=True)
"""

INIT_PY = """\
from .app import ExampleApp as App  # noqa: F401
from .model import MODEL_ID  # noqa: F401
from .model import ExampleModel as Model  # noqa: F401
"""

INFO_YAML = """\
name: Example
id: example
status: public
headline: An example model.
domain: Computer Vision
description: An example model for tests.
use_case: Image Classification
tags: []
applicable_scenarios: []
related_models: []
form_factors:
- Phone
has_static_banner: true
has_animated_banner: false
dataset: []
technical_details: {}
license_type: mit
license: https://opensource.org/licenses/MIT
"""

MANIFEST_YAML = """\
name: Example
id: example
status: public
headline: An example model.
domain: Computer Vision
description: An example model for tests.
use_case: Image Classification
has_static_banner: true
license_type: mit
license: https://opensource.org/licenses/MIT
supported_precisions:
- float
"""


def default_model_files(layout: Layout, model_id: str = MODEL_ID) -> dict[str, str]:
    if layout is Layout.MANIFEST:
        files = {
            "model.py": MANIFEST_MODEL_PY,
            "test.py": MANIFEST_TEST_PY,
            "manifest.yaml": MANIFEST_YAML,
        }
    else:
        files = {"model.py": MODEL_PY, "test.py": TEST_PY, "info.yaml": INFO_YAML}
    files.update({"app.py": APP_PY, "demo.py": DEMO_PY, "__init__.py": INIT_PY})
    if model_id != MODEL_ID:
        files = {
            name: text.replace("models.example.", f"models.{model_id}.").replace(
                "id: example", f"id: {model_id}"
            )
            for name, text in files.items()
        }
    return files


DEFAULT_PACKAGE_FILES = {
    "__init__.py": "",
    "global_requirements.txt": GLOBAL_REQUIREMENTS,
    "utils/__init__.py": "",
    "utils/base_model.py": STATIC_ERA,
    "utils/input_spec.py": "InputSpec = dict\n",
    "utils/asset_loaders.py": SOURCE_AS_ROOT_PY,
    "models/__init__.py": "",
    "models/_shared/__init__.py": "",
}


@dataclass
class Tree:
    """A synthetic repository: ``root/qai_hub_models/...``."""

    root: Path

    @property
    def package(self) -> Path:
        return self.root / PACKAGE_NAME

    def model(self, model_id: str = MODEL_ID) -> Path:
        return self.package / "models" / model_id

    def write(self, relative: str, text: str | None) -> Path:
        path = self.package / relative
        if text is None:
            if path.exists():
                path.unlink()
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def build_tree(
    root: Path,
    files: Mapping[str, str | None] | None = None,
    *,
    package_files: Mapping[str, str] | None = None,
    layout: Layout = Layout.INFO,
    other_models: Mapping[str, Mapping[str, str | None]] | None = None,
    model_id: str = MODEL_ID,
) -> Tree:
    tree = Tree(root)
    # A manifest tree gets the framework of its era unless the caller brings another.
    era = {"utils/base_model.py": WORKBENCH_ERA} if layout is Layout.MANIFEST else {}
    for relative, text in {**DEFAULT_PACKAGE_FILES, **era, **(package_files or {})}.items():
        tree.write(relative, text)
    models = {model_id: files or {}, **(other_models or {})}
    for mid, overrides in models.items():
        for name, content in {**default_model_files(layout, mid), **overrides}.items():
            tree.write(f"models/{mid}/{name}", content)
    return tree


def build_example(root: Path, example: Example) -> Tree:
    return build_tree(
        root,
        example.files,
        package_files=example.package_files,
        layout=example.layout,
        other_models=example.other_models,
    )


def lint_paths(
    paths: Iterable[Path], select: Iterable[str] | None = None, **settings: object
) -> list[Diagnostic]:
    config = Settings(
        select=tuple(select) if select is not None else None, jobs=1, use_cache=False
    ).with_overrides(**settings)
    workspace = discover(list(paths))
    return lint(workspace, make_plan(config)).diagnostics


def fix_paths(
    paths: Iterable[Path],
    select: Iterable[str] | None = None,
    *,
    unsafe: bool = False,
    write: bool = True,
) -> FixOutcome:
    from qaihm_lint.fixers.apply import write_atomic

    config = Settings(
        select=tuple(select) if select is not None else None,
        jobs=1,
        use_cache=False,
        fix=True,
        unsafe_fixes=unsafe,
    )
    workspace = discover(list(paths))
    outcome = lint_with_fixes(workspace, make_plan(config))
    if write:
        for path, data in outcome.changed.items():
            write_atomic(path, data)
    return outcome
