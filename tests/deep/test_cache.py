"""Cache keys change with what can change a verdict, and only with that."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.deep.cache import DeepCache, folder_hash, make_key, package_hash


def test_folder_hash_follows_content_not_bytecode(fixture_copy: Path) -> None:
    folder = fixture_copy / "qai_hub_models/models/good"
    before = folder_hash(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__/model.cpython-311.pyc").write_bytes(b"junk")
    assert folder_hash(folder) == before
    (folder / "requirements.txt").write_text("timm==1.0.0\n")
    assert folder_hash(folder) != before


def test_package_hash_follows_shared_code(fixture_copy: Path) -> None:
    root = fixture_copy / "qai_hub_models"
    before = package_hash(root)
    (root / "models/good/model.py").write_text("# a model edit is the folder hash's business\n")
    assert package_hash(root) == before
    with (root / "utils/base_model.py").open("a") as stream:
        stream.write("\n# edited\n")
    assert package_hash(root) != before
    after_utils = package_hash(root)
    (root / "global_requirements.txt").write_text("torch==2.13.0\n")
    assert package_hash(root) != after_utils


def test_keys_and_store(tmp_path: Path) -> None:
    assert make_key({"a": 1, "b": [2]}) == make_key({"b": [2], "a": 1})
    assert make_key({"torch": "2.13.0"}) != make_key({"torch": "2.12.0"})
    cache = DeepCache(tmp_path)
    key = make_key({"x": 1})
    assert cache.get(key) is None
    cache.put(key, {"records": [{"stage": "import"}]})
    assert cache.get(key) == {"records": [{"stage": "import"}]}
    assert DeepCache(None).get(key) is None
    DeepCache(None).put(key, {})  # a disabled cache stores nothing, quietly
