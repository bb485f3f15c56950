"""The code-gen schema read from a real published tree (``pytest -m real``, beside the real
models: it needs the 0.46.1 wheel, which it fails without rather than skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import real_models
from qaihm_lint.rules.codegen_schema import FIELDS, schema_for
from qaihm_lint.workspace import Package

pytestmark = [pytest.mark.real]


def test_the_046_schema_read_from_the_tree_matches_the_built_in_table(tmp_path: Path) -> None:
    wheels = real_models.DEFAULT_WHEELS
    if not any(wheels.glob("qai_hub_models-0.46.1-*.whl")):
        pytest.fail(f"no qai_hub_models 0.46.1 wheel in {wheels}: set QAIHM_WHEELS")
    root = real_models.unpack("0.46.1", wheels, tmp_path) / "qai_hub_models"
    schema = schema_for(Package(root))
    assert set(schema.fields) == set(FIELDS)
    assert schema.canary_devices == frozenset(
        {"Samsung Galaxy S25 (Family)", "Snapdragon X Elite CRD"}
    )
