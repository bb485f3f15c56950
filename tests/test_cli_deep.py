"""--deep through the command line: findings in the report, one junit case per model and stage."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import RunCli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "deep_pkg" / "qai_hub_models" / "models"
pytestmark = [pytest.mark.deep, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(tmp_path / "absent.ini"))


def test_deep_junit_and_findings(run_cli: RunCli) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    code, out, err = run_cli(
        "--deep",
        "--no-compile",
        "--no-cache",
        "--select",
        "QAI8",
        "--output-format",
        "junit",
        FIXTURES / "good",
        FIXTURES / "output_mismatch",
        FIXTURES / "ignores_input",
    )
    assert code == 1, err
    cases = ET.fromstring(out).findall(".//testcase")
    verdicts = {(c.get("classname"), c.get("name")): c.find("failure") is None for c in cases}
    assert verdicts[("qaihm_lint.good", "deep.trace")] is True
    assert verdicts[("qaihm_lint.good", "deep.onnx")] is True
    assert verdicts[("qaihm_lint.output_mismatch", "deep.forward")] is False
    assert "get_output_names() names 3" in out
    # A passing stage's remark is the case's system-out.
    (onnx,) = [
        c
        for c in cases
        if c.get("classname") == "qaihm_lint.ignores_input" and c.get("name") == "deep.onnx"
    ]
    assert onnx.find("failure") is None
    assert "'mask'" in (onnx.findtext("system-out") or "")


def test_deep_needs_a_token_unless_no_compile(run_cli: RunCli) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("qai_hub")
    code, out, err = run_cli("--deep", "--no-cache", FIXTURES / "good")
    assert code == 2 and out == ""
    assert "qai-hub configure --api_token" in err and err.count("\n") == 1


def test_unknown_stage_is_a_usage_error(run_cli: RunCli) -> None:
    code, _, err = run_cli("--deep", "--no-compile", "--stages", "warp", FIXTURES / "good")
    assert code == 2 and "unknown deep stage(s) warp" in err
