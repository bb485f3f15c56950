"""Honest models too (issue 19): what the cache key covers, what is never cached, and outputs
that cannot be a model's answer."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.deep.cache import package_hash
from tests.deep.builders import add_model
from tests.deep.test_cache_truth import codes, run


def test_package_folders_a_model_imports_are_in_the_key(fixture_copy: Path) -> None:
    package = fixture_copy / "qai_hub_models"
    for folder in ("evaluators", "datasets"):
        (package / folder).mkdir(exist_ok=True)
        (package / folder / "__init__.py").write_text("")
        before = package_hash(package)
        (package / folder / "__init__.py").write_text("raise ImportError('broken')\n")
        assert package_hash(package) != before, f"a change in {folder}/ kept the key"
    # Another model's folder is not the package's shared code.
    before = package_hash(package)
    (package / "models" / "good" / "notes.txt").write_text("changed")
    assert package_hash(package) == before


def test_a_timeout_is_not_served_from_the_cache(fixture_copy: Path, tmp_path: Path) -> None:
    first = run(fixture_copy, tmp_path / "cache", "hangs", timeout=3.0)
    assert codes(first) == {"QAI809"}
    second = run(fixture_copy, tmp_path / "cache", "hangs", timeout=3.0)
    assert second.workers_run == 1 and codes(second) == {"QAI809"}


def test_an_output_of_only_nan_fails_the_forward_stage(fixture_copy: Path, tmp_path: Path) -> None:
    add_model(fixture_copy, "all_nan", scale="float('nan')")
    result = run(fixture_copy, tmp_path / "cache", "all_nan")
    (finding,) = result.diagnostics
    assert "holds no finite value" in finding.message and "'features'" in finding.message
    assert "deep stage 4 (forward)" in finding.message
