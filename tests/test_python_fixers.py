"""The libcst codemods behind the model-code fixes, and --fix / --diff on a synthetic tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from qaihm_lint.fixers.python_fixes import (
    add_map_location,
    add_trace_marker,
    cuda_to_cpu,
    make_classmethod,
    make_staticmethod,
)
from qaihm_lint.testing import build_tree, fix_paths, lint_paths


def _apply(transform, text: str) -> str:  # type: ignore[no-untyped-def]
    result = transform(cst.parse_module(text)).code
    ast.parse(result)
    # Idempotent: applying it again changes nothing.
    assert transform(cst.parse_module(result)).code == result
    return str(result)


def test_classmethod_renames_self_and_keeps_comments() -> None:
    source = (
        "class M:\n    # loads\n    def from_pretrained(self, w=1):  # trailing\n"
        "        return self(w)  # body comment\n"
    )
    assert _apply(make_classmethod("M", "from_pretrained"), source) == (
        "class M:\n    # loads\n    @classmethod\n    def from_pretrained(cls, w=1):  # trailing\n"
        "        return cls(w)  # body comment\n"
    )


def test_classmethod_keeps_name_when_cls_is_taken() -> None:
    source = "class M:\n    def from_pretrained(self, cls=None):\n        return cls or self\n"
    assert _apply(make_classmethod("M", "from_pretrained"), source) == (
        "class M:\n    @classmethod\n    def from_pretrained(self, cls=None):\n"
        "        return cls or self\n"
    )


def test_classmethod_without_parameters_gets_cls() -> None:
    source = "class M:\n    def from_pretrained():\n        return M()\n"
    assert _apply(make_classmethod("M", "from_pretrained"), source) == (
        "class M:\n    @classmethod\n    def from_pretrained(cls):\n        return M()\n"
    )


def test_classmethod_stays_above_other_decorators() -> None:
    source = "class M:\n    @cache\n    def from_pretrained(self):\n        return self()\n"
    assert _apply(make_classmethod("M", "from_pretrained"), source) == (
        "class M:\n    @classmethod\n    @cache\n    def from_pretrained(cls):\n"
        "        return cls()\n"
    )


def test_staticmethod_only_when_self_unused() -> None:
    source = (
        "class M:\n    def get_input_spec(self, h: int = 8):\n        return {'x': h}\n\n"
        "    def get_output_names(self):\n        return self.names\n"
    )
    fixed = _apply(make_staticmethod("M", "get_input_spec"), source)
    assert "    @staticmethod\n    def get_input_spec(h: int = 8):" in fixed
    assert _apply(make_staticmethod("M", "get_output_names"), source) == source


def test_map_location_layouts() -> None:
    transform = add_map_location(1, 5)
    assert _apply(transform, "x = torch.load(p)\n") == 'x = torch.load(p, map_location="cpu")\n'
    assert _apply(transform, "x = torch.load(\n    p,\n)\n") == (
        'x = torch.load(\n    p,\n    map_location="cpu",\n)\n'
    )
    # A call chained on the load starts at the same place: only the load changes.
    assert _apply(transform, "x = torch.load(p).to(d)\n") == (
        'x = torch.load(p, map_location="cpu").to(d)\n'
    )


def test_trace_marker_adds_import_once() -> None:
    source = "from a import b\n\n\ndef test_trace():\n    pass\n"
    assert _apply(add_trace_marker("test_trace"), source) == (
        "import pytest\nfrom a import b\n\n\n@pytest.mark.trace\ndef test_trace():\n    pass\n"
    )


def test_cuda_to_cpu_targets_only_the_flagged_node() -> None:
    source = "a = m.cuda()\nb = 'cuda:1'\n"
    assert _apply(cuda_to_cpu(2, 5), source) == "a = m.cuda()\nb = 'cpu'\n"
    assert _apply(cuda_to_cpu(1, 5), source) == "a = m.cpu()\nb = 'cuda:1'\n"


BROKEN_MODEL = """\
import torch

from qai_hub_models.utils.base_model import BaseModel

MODEL_ASSET_VERSION = 1


class ExampleModel(BaseModel):
    # Weights come from the asset store.
    def from_pretrained(self, path: str = "w.pt"):
        net = torch.load(path)
        return self(net)

    def get_input_spec(self, height: int = 224):
        return {"image": ((1, 3, height, height), "float32")}

    @staticmethod
    def get_output_names():
        return ["out"]
"""


@pytest.mark.slow
def test_diff_shows_exactly_what_fix_writes(tmp_path: Path) -> None:
    tree = build_tree(tmp_path, {"model.py": BROKEN_MODEL})
    model = tree.model() / "model.py"
    select = "QAI202,QAI204,QAI502"
    command = [
        sys.executable,
        "-m",
        "qaihm_lint",
        str(tree.model()),
        "--no-cache",
        "--select",
        select,
    ]
    diff = subprocess.run([*command, "--diff"], capture_output=True, text=True, check=False)
    assert model.read_text() == BROKEN_MODEL  # --diff writes nothing
    fixed = subprocess.run([*command, "--fix"], capture_output=True, text=True, check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = model.read_text()
    assert "    @classmethod\n    def from_pretrained(cls, path" in after
    assert 'torch.load(path, map_location="cpu")' in after
    assert "    @staticmethod\n    def get_input_spec(height: int = 224):" in after
    assert "# Weights come from the asset store." in after
    # The diff's added lines are exactly the file's new lines.
    added = [
        line[1:]
        for line in diff.stdout.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    for line in added:
        assert line in after.splitlines()
    assert lint_paths([tree.model()], select=select.split(",")) == []
    again = fix_paths([tree.model()], select=select.split(","))
    assert again.changed == {}


def _with_marker(source: str) -> str:
    import libcst

    from qaihm_lint.fixers.python_fixes import add_trace_marker

    return add_trace_marker("test_trace")(libcst.parse_module(source)).code


def test_import_pytest_goes_where_isort_puts_it() -> None:
    third_party = (
        "import os\n\nimport numpy as np\nfrom skimage import io\n\n"
        "from qai_hub_models.models.x.model import X\n\n\ndef test_trace():\n    pass\n"
    )
    assert _with_marker(third_party).startswith(
        "import os\n\nimport numpy as np\nimport pytest\nfrom skimage import io\n\n"
        "from qai_hub_models.models.x.model import X\n"
    )
    only_first_party = (
        "from __future__ import annotations\n\n"
        "from qai_hub_models.models.x.model import X\n\n\ndef test_trace():\n    pass\n"
    )
    assert _with_marker(only_first_party).startswith(
        "from __future__ import annotations\n\nimport pytest\n\n"
        "from qai_hub_models.models.x.model import X\n"
    )
    stdlib_only = "import os\n\n\ndef test_trace():\n    pass\n"
    assert _with_marker(stdlib_only).startswith(
        "import os\n\nimport pytest\n\n\n@pytest.mark.trace"
    )
    nothing = '"""Tests."""\n\n\ndef test_trace():\n    pass\n'
    assert _with_marker(nothing).startswith('"""Tests."""\nimport pytest\n')
