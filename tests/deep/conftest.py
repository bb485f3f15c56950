"""Shared fixtures of the deep-mode tests.

Nothing here may reach the network or read the developer's real AI Hub token: every test runs
with QAIHUB_CLIENT_INI pointing at a file that does not exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qaihm_lint.workspace import ModelFolder, discover

FIXTURE_REPO = Path(__file__).resolve().parent.parent / "fixtures" / "deep_pkg"
# Small enough that the hanging model costs little, large enough for a loaded 2-core CI box.
STAGE_TIMEOUT = 12.0
MEMORY_LIMIT_MB = 2048


@pytest.fixture(autouse=True)
def _no_real_token(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path_factory.mktemp("qai_hub_ini") / "absent-client.ini"
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(missing))


def folders_of(repo: Path, *model_ids: str) -> list[ModelFolder]:
    """The model folders of the package under ``repo`` (all of them when no id is given)."""
    folders = discover([repo / "qai_hub_models"]).folders
    if model_ids:
        folders = [folder for folder in folders if folder.model_id in model_ids]
        assert {folder.model_id for folder in folders} == set(model_ids)
    return folders


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Iterator[Path]:
    """A private copy of the fixture package, for tests that edit it or keep a cache."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    yield repo
