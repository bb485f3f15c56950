from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from qaihm_lint.cli import main
from qaihm_lint.testing import Tree, build_tree

# CI replays the same examples every run (a red build must be reproducible); developers and
# bench/fuzz.py explore new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI sets this so that the deep tests can never skip their way to green: their
    # importorskip guards are for developers who installed only [dev].
    if os.environ.get("QAIHM_REQUIRE_DEEP") == "1":
        for name in ("torch", "onnx", "onnxruntime", "qai_hub", "rich", "uv"):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise pytest.UsageError(
                    f"QAIHM_REQUIRE_DEEP=1 but {name} does not import: {exc}"
                ) from exc


@pytest.fixture(autouse=True, scope="session")
def _private_deep_environments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Environments --deep builds go to a folder of this session, never the user's cache.
    previous = os.environ.get("QAIHM_LINT_ENV_DIR")
    os.environ["QAIHM_LINT_ENV_DIR"] = str(tmp_path_factory.mktemp("deep-envs"))
    # The deep cache's HMAC key: the session's own, never the developer's.
    os.environ["QAIHM_LINT_CACHE_KEY"] = str(tmp_path_factory.mktemp("key") / "deep-cache.key")
    yield None
    if previous is None:
        os.environ.pop("QAIHM_LINT_ENV_DIR", None)
    else:
        os.environ["QAIHM_LINT_ENV_DIR"] = previous


@pytest.fixture(autouse=True)
def _private_deep_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The deep cache lives outside the tree (the user's cache folder by default): each test
    # gets its own, never the developer's (its HMAC key is the session's, see above).
    monkeypatch.setenv("QAIHM_LINT_DEEP_CACHE", str(tmp_path / "deep-cache"))


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Findings print paths relative to the cwd, and config is looked up from it: keep every
    # test away from this repository's own pyproject.toml.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """A clean synthetic repository with one model folder, ``example``."""
    return build_tree(tmp_path / "repo")


RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    def run(*args: str | Path) -> tuple[int, str, str]:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
