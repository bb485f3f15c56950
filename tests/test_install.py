"""Install hints name what works: qaihm-lint is not on PyPI, and torchvision must match torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qaihm_lint.install import CPU_TORCH, deep_install_hint, from_direct_url

ROOT = Path(__file__).resolve().parent.parent


def test_hint_from_a_checkout_names_the_checkout_and_a_matched_torchvision() -> None:
    hint = deep_install_hint()
    # The extra alone works where only PyPI is reachable; the CPU index is an option, not a step.
    assert f"pip install -e '{ROOT}[deep]'" in hint and "matched torchvision" in hint
    assert hint.index(f"pip install -e '{ROOT}[deep]'") < hint.index(CPU_TORCH)
    assert "torchvision --index-url https://download.pytorch.org/whl/cpu" in hint
    assert "pip install 'qaihm-lint[deep]'" not in hint


@pytest.mark.parametrize(
    ("record", "requirement"),
    [
        (
            {
                "url": "https://git.example.invalid/tools/qaihm-lint",
                "vcs_info": {"vcs": "git", "commit_id": "0" * 40, "requested_revision": "v0.2.0"},
            },
            "'qaihm-lint[deep] @ git+https://git.example.invalid/tools/qaihm-lint@v0.2.0'",
        ),
        (
            {"url": "https://git.example.invalid/q", "vcs_info": {"vcs": "git", "commit_id": "ab"}},
            "'qaihm-lint[deep] @ git+https://git.example.invalid/q@ab'",
        ),
        (
            {"url": "file:///home/me/src/qaihm%20lint", "dir_info": {"editable": True}},
            "-e '/home/me/src/qaihm lint[deep]'",
        ),
        ({"url": "file:///opt/qaihm-lint", "dir_info": {}}, "'/opt/qaihm-lint[deep]'"),
        (
            {"url": "file:///tmp/qaihm_lint-0.2.0.tar.gz", "archive_info": {}},
            "'qaihm-lint[deep] @ file:///tmp/qaihm_lint-0.2.0.tar.gz'",
        ),
        (None, None),
        ({"dir_info": {}}, None),
    ],
)
def test_hint_follows_where_pip_installed_from(
    record: dict[str, Any] | None, requirement: str | None
) -> None:
    assert from_direct_url(record) == requirement


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"setup.py": ""}, "pip install -e {root}"),
        ({"pyproject.toml": ""}, "pip install -e {root}"),
        # An unpacked wheel: no project file to install from, only the package's requirements.
        (
            {"qai_hub_models/requirements.txt": "torch==2.4\n"},
            "pip install -r {root}/qai_hub_models/requirements.txt",
        ),
        ({}, "pip install the qai-hub-models release this tree comes from"),
    ],
)
def test_deep_worker_hint_for_missing_package_dependencies(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    from qaihm_lint.deep.inside.worker import Worker

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    request = {
        "repo_root": str(tmp_path),
        "model_id": "m",
        "layout": "info",
        "stages": [],
        "workdir": str(tmp_path / "w"),
    }
    worker = Worker(request, emitter=None)  # type: ignore[arg-type]
    assert worker.package_hint() == expected.format(root=tmp_path)


def test_a_package_dependency_is_not_blamed_on_the_model(tmp_path: Path) -> None:
    """Issue 21 item 9: pydantic, imported by models/common.py, is the package's dependency:
    the old hint told the user to list it in the model's requirements.txt."""
    from qaihm_lint.deep.inside.worker import Worker

    models = tmp_path / "qai_hub_models" / "models"
    (models / "resnet18").mkdir(parents=True)
    (models / "resnet18" / "requirements.txt").write_text("timm==1.0\n")
    (tmp_path / "qai_hub_models" / "requirements.txt").write_text("numpy<3\npydantic>=2,<3\n")
    request = {
        "repo_root": str(tmp_path),
        "model_id": "resnet18",
        "layout": "info",
        "stages": [],
        "workdir": str(tmp_path / "w"),
    }
    worker = Worker(request, emitter=None)  # type: ignore[arg-type]
    missing = ModuleNotFoundError("No module named 'pydantic'", name="pydantic")
    hint = worker.missing_module_hint(missing, "qai_hub_models/models/common.py:12")
    assert "dependency of qai_hub_models itself" in hint
    assert "qai_hub_models/requirements.txt lists it" in hint
    assert "list it in" not in hint and "resnet18/requirements.txt" not in hint
    # A wheel's METADATA counts as the package's list too (0.65.0 declares more than its file).
    (tmp_path / "qai_hub_models" / "requirements.txt").write_text("numpy<3\n")
    info = tmp_path / "qai_hub_models-0.65.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: qai_hub_models\nRequires-Dist: pydantic<=2.13.3,>=2\n")
    hint = worker.missing_module_hint(missing, "qai_hub_models/models/common.py:12")
    assert "qai_hub_models-0.65.0.dist-info/METADATA lists it" in hint
    # Shared model code that imports something the package does not declare: still the model's.
    other = ModuleNotFoundError("No module named 'fancy'", name="fancy")
    hint = worker.missing_module_hint(other, "qai_hub_models/models/_shared/x/layers.py:3")
    assert "list it in qai_hub_models/models/resnet18/requirements.txt" in hint
