"""QAI702: code-gen.yaml against upstream's schema, and the bad inputs it must survive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qaihm_lint.rules.codegen_schema import FIELDS, is_precision, schema_for
from qaihm_lint.testing import build_tree, lint_paths
from qaihm_lint.workspace import Layout, Package


def check(
    tmp_path: Path,
    text: str | None = None,
    *,
    data: bytes | None = None,
    package_files: dict[str, str] | None = None,
    layout: Layout = Layout.INFO,
) -> list[str]:
    files = {"code-gen.yaml": text} if text is not None else {}
    tree = build_tree(tmp_path, files, package_files=package_files, layout=layout)
    if data is not None:
        (tree.model() / "code-gen.yaml").write_bytes(data)
    return [d.message for d in lint_paths([tree.model()], select=["QAI702"])]


def test_the_schema_has_upstreams_31_fields() -> None:
    assert len(FIELDS) == 31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("suported_precisions: [float]\n", "did you mean `supported_precisions`"),
        ("is_aimet: maybe\n", "`is_aimet` must be true or false"),
        ("num_calibration_samples: lots\n", "must be an integer"),
        ("python_version_less_than: 3.10\npython_version_less_than_reason: x\n", "quote it"),
        ("python_version_less_than: '3.13'\n", "needs `python_version_less_than_reason`"),
        ("python_version_greater_than_or_equal_to_reason: x\n", "is set but"),
        ("pip_pre_build_reqs: torch\n", "global_requirements_incompatible: true` must be"),
        ("supported_precisions: [w8a8, mixed]\n", "only for collection models"),
        ("supported_precisions: [w8a9]\n", "unknown precision `w8a9`"),
        ("supported_genai_runtimes: [geni]\n", "did you mean `genie`"),
        ("default_device: Samsung Galaxy S10\n", "not a canary device"),
        ("outputs_to_skip_validation: {a: b}\n", "output index"),
        ("disabled_paths:\n  w8a8:\n    tflite:\n      causes_timeout: true\n", "needs `issue`"),
        ("disabled_paths:\n  w8a8:\n    tfilte:\n      issue: x\n", "did you mean `tflite`"),
        ("- a\n- b\n", "must be a mapping"),
        ("just a scalar\n", "must be a mapping"),
        ("is_aimet: true\nis_aimet: false\n", "twice"),
        ("is_aimet: [unclosed\n", "not valid YAML"),
    ],
)
def test_findings(tmp_path: Path, text: str, expected: str) -> None:
    messages = check(tmp_path, text)
    assert any(expected in m for m in messages), messages


def test_lax_booleans_and_real_files_are_clean(tmp_path: Path) -> None:
    text = (
        "is_aimet: True\n"
        "check_trace: false\n"
        "supported_precisions:\n- float\n- w8a16\n- w8a8_mixed_int16\n"
        "default_device: Samsung Galaxy S25 (Family)\n"
        "disabled_paths:\n  float:\n    tflite:\n      issue: https://x/issues/1\n"
        "      causes_timeout: true\n"
        "outputs_to_skip_validation:\n  1: low confidence values\n"
        "global_requirements_incompatible: true\n"
        "pip_install_flags: --no-build-isolation\n"
        "supported_genai_runtimes: [genie, onnxruntime_genai]\n"
        "additional_readme_section: |\n  Some notes.\n"
    )
    assert check(tmp_path, text) == []


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    start = time.perf_counter()
    messages = check(tmp_path, bomb)
    assert time.perf_counter() - start < 5
    assert any("aliases" in m for m in messages), messages


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"is_aimet: true\n\xff\n", "not valid UTF-8"), (b"\x00\x01\x02", "binary")],
)
def test_unreadable(tmp_path: Path, data: bytes, expected: str) -> None:
    messages = check(tmp_path, data=data)
    assert any(expected in m for m in messages), messages


def test_directory(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    (tree.model() / "code-gen.yaml").mkdir()
    (finding,) = lint_paths([tree.model()], select=["QAI702", "QAI3"])
    assert "directory" in finding.message


def test_manifest_layout_does_not_read_code_gen(tmp_path: Path) -> None:
    messages = check(tmp_path, "is_aimet: true\n", layout=Layout.MANIFEST)
    assert len(messages) == 1 and "manifest.yaml" in messages[0]


SCHEMA_PY = """
class QAIHMModelCodeGen(BaseQAIHMConfig):
    is_aimet: bool = False
    brand_new_option: int | None = None
    _private: int = 0
"""

DEVICE_PY = """
cs_x = ScorecardDevice(name="cs_x", reference_device_name="Phone X",
                       execution_device_name="Phone X (Family)", is_default=True)
DEFAULT_EXPORT_DEVICE = cs_x.execution_device_name
CANARY_DEVICES = {DEFAULT_EXPORT_DEVICE, "Laptop Y"}
"""


def test_the_packages_own_schema_and_devices_are_used(tmp_path: Path) -> None:
    package_files = {"configs/code_gen_yaml.py": SCHEMA_PY, "scorecard/device.py": DEVICE_PY}
    messages = check(
        tmp_path, "brand_new_option: 3\ndefault_device: Laptop Y\n", package_files=package_files
    )
    assert any("default_device" in m and "unknown key" in m for m in messages), messages
    assert not any("brand_new_option" in m for m in messages)
    schema = schema_for(Package(tmp_path / "qai_hub_models"))
    assert schema.canary_devices == frozenset({"Phone X (Family)", "Laptop Y"})
    assert check(tmp_path / "b", "brand_new_option: many\n", package_files=package_files) != []


@pytest.mark.parametrize(
    "value", ["float", "w8a8", "w4a16", "a16w8", "w8a16_mixed_fp16", "mixed_with_float", "mxfp4"]
)
def test_precisions(value: str) -> None:
    assert is_precision(value)


@pytest.mark.parametrize("value", ["", "_", "fp32", "w3a8", "w8a8_mixed_int4", 8])
def test_not_precisions(value: object) -> None:
    assert not is_precision(value)


LOADERS_PY = """
class QAIHMModelCodeGen(BaseDataClass):
    is_aimet: bool = False
    num_calibration_samples: Optional[int] = None
    qnn_export_failure_reason: str = ""
"""


def test_older_releases_are_judged_by_their_own_schema(tmp_path: Path) -> None:
    package_files = {"utils/config_loaders.py": LOADERS_PY}
    text = "qnn_export_failure_reason: fails\nnum_calibration_samples: 100\n"
    assert check(tmp_path / "a", text, package_files=package_files) == []
    messages = check(
        tmp_path / "b",
        "qnn_export_failure_reasn: x\nnum_calibration_samples: x\n",
        package_files=package_files,
    )
    assert any("did you mean `qnn_export_failure_reason`" in m for m in messages), messages
    assert any("must be an integer" in m for m in messages), messages


def test_free_form_releases_get_no_key_checks(tmp_path: Path) -> None:
    package_files = {"utils/config_loaders.py": "def load(): ...\n"}
    text = "components:\n  WhisperEncoder: model.encoder\nqnn_export_failure_reason: x\n"
    assert check(tmp_path, text, package_files=package_files) == []
    assert check(tmp_path / "b", "- a list\n", package_files=package_files) != []


COMMON_PY = """
from enum import Enum


class TargetRuntime(Enum):
    TFLITE = "tflite"
    GENIEX_QAIRT = "geniex_qairt"


class Precision:
    @staticmethod
    def parse(obj):
        string = obj
        if string == "float":
            return Precision.float
        if string == "q4_0":
            return Precision.q4_0
        return None
"""


@pytest.mark.parametrize("where", ["common.py", "models/common.py"])
def test_precisions_and_runtimes_come_from_the_packages_parser(tmp_path: Path, where: str) -> None:
    """0.57's parser accepts q4_0 and its TargetRuntime has geniex_qairt: not unknown there."""
    text = (
        "supported_precisions:\n- q4_0\n- w8a16\n"
        "disabled_paths:\n  float:\n    geniex_qairt:\n      issue: https://example.com/1\n"
    )
    assert check(tmp_path, text, package_files={where: COMMON_PY}) == []
    schema = schema_for(Package(tmp_path / "qai_hub_models"))
    assert schema.precisions == frozenset({"float", "q4_0"})
    assert schema.runtimes == frozenset({"tflite", "geniex_qairt"})


def test_a_precision_the_packages_parser_lacks_is_unknown(tmp_path: Path) -> None:
    # mxfp4 is in the built-in list, but this tree's parser does not know it.
    messages = check(
        tmp_path, "supported_precisions:\n- mxfp4\n", package_files={"common.py": COMMON_PY}
    )
    assert any("unknown precision `mxfp4`" in m for m in messages), messages
    # Without the package's parser, the built-in names apply.
    assert check(tmp_path / "b", "supported_precisions:\n- mxfp4\n") == []
    assert any("q4_0" in m for m in check(tmp_path / "c", "supported_precisions:\n- q4_0\n"))
