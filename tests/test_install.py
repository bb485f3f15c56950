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
    from qaihm_lint.deep.worker import Worker

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
