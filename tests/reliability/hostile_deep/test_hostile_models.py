"""Hostile models against --deep (issue 19): each tries to take a secret, reach the network,
write the caches, the tree or the environment, signal the parent, flood the pipe or the log,
fork past the memory cap or forge an artifact path, and gets nothing; its verdict says what it
tried.

The run is repeated per sandbox mode: ``auto`` (bubblewrap and Landlock), ``bwrap`` (no
Landlock), ``landlock`` (no bubblewrap) and ``off`` (only what holds everywhere: the clean
environment, the checked tree copy, the authenticated cache, the parent's checks). A mode
runs where this machine has it; CI sets QAIHM_REQUIRE_SANDBOX=1 so that a missing protection
fails instead of skipping.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("torch")

from qaihm_lint.deep import DeepOptions, DeepResult, FakeHubClient, run_deep_detailed
from qaihm_lint.deep.sandbox import detect
from tests.deep.builders import add_model
from tests.deep.conftest import FIXTURE_REPO, folders_of
from tests.reliability.hostile_deep import models

SECRETS = {
    "QAIHUB_API_TOKEN": "SECRET-QAIHUB-0001",
    "GITHUB_TOKEN": "SECRET-GITHUB-0002",
    "AWS_SECRET_ACCESS_KEY": "SECRET-AWS-0003",
}
INI_SECRET = "SECRET-INI-0004"
MEMORY_CAP_MB = 1500
MODES = ("auto", "bwrap", "landlock", "off")


def _available(mode: str) -> bool:
    found = detect(mode)
    if mode == "auto":
        return found.bwrap is not None and found.landlock_abi >= 6
    if mode == "landlock":
        return found.landlock_abi >= 6
    if mode == "bwrap":
        return found.bwrap is not None
    return True


@dataclass
class Hostile:
    mode: str
    result: DeepResult
    second: DeepResult
    err: str
    repo: Path
    home: Path
    received: list[bytes]
    deep_cache: Path
    victim_before: str
    hub: FakeHubClient

    def message(self, model_id: str) -> str:
        found = [d.message for d in self.result.diagnostics if d.model_id == model_id]
        return "\n".join(found)

    def report(self, model_id: str) -> str:
        match = re.search(r"REPORT: (\S+)", self.message(model_id))
        assert match, f"{model_id} said: {self.message(model_id)!r}"
        return match.group(1)


def _listener() -> tuple[int, list[bytes], socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    received: list[bytes] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                received.append(connection.recv(1024))

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], received, server


@pytest.fixture(scope="module", params=MODES)
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    mode = request.param
    if not _available(mode):
        if os.environ.get("QAIHM_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"QAIHM_REQUIRE_SANDBOX=1 but sandbox mode {mode!r} is not available")
        pytest.skip(f"sandbox mode {mode!r} is not available here")
    base = tmp_path_factory.mktemp(f"hostile-{mode}")
    repo = base / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    home = base / "home"
    (home / ".qai_hub").mkdir(parents=True)
    ini = home / ".qai_hub" / "client.ini"
    ini.write_text(f"[api]\napi_token = {INI_SECRET}\n")
    deep_cache = base / "deep-cache"
    static_cache = repo / ".qaihm_lint_cache"
    port, received, server = _listener()
    victim = add_model(repo, "victim")
    victim_before = (victim / "model.py").read_text()
    bodies = {
        "spy_env": models.SPY_ENV,
        "spy_files": models.SPY_FILES.format(paths=[str(ini), "/etc/hostname"]),
        "phone_home": models.PHONE_HOME.format(port=port),
        "poison_cache": models.POISON_CACHE.format(
            deep_cache=str(deep_cache), static_cache=str(static_cache)
        ),
        "edit_tree": models.EDIT_TREE.format(original=str(victim / "model.py")),
        "signal_parent": models.SIGNAL_PARENT.format(pid=os.getpid()),
        "flood_pipe": models.FLOOD_PIPE,
        "flood_log": models.FLOOD_LOG,
        "fork_past_cap": models.FORK_PAST_CAP,
        "forge_artifact": models.FORGE_ARTIFACT.format(secret=str(ini)),
        "writes_config": models.WRITES_CONFIG,
        "writes_own_folder": models.WRITES_OWN_FOLDER,
    }
    if mode != "off":
        # Unconfined, this one would really write into the test's own environment.
        bodies["poison_env"] = models.POISON_ENV
    for model_id, body in bodies.items():
        add_model(repo, model_id, body=body)
    tree_before = _snapshot(repo)
    saved = {name: os.environ.get(name) for name in (*SECRETS, "HOME")}
    os.environ.update(SECRETS)
    os.environ["HOME"] = str(home)
    try:
        hub = FakeHubClient()
        options = DeepOptions(
            compile=True,
            targets=("Samsung Galaxy S25 (Family)",),
            timeout=40.0,
            jobs=2,
            cache_dir=deep_cache,
            progress=False,
            memory_limit_mb=MEMORY_CAP_MB,
            poll_interval=0.05,
            sandbox=mode,
        )
        folders = folders_of(repo, *bodies, "victim")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            result = run_deep_detailed(folders, options, hub)
            second = run_deep_detailed(
                folders_of(repo, "victim", "writes_own_folder"), options, hub
            )
    finally:
        server.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _remove_planted()
    assert _snapshot(repo) == tree_before or mode == "off", "the checked tree changed"
    yield Hostile(
        mode, result, second, err.getvalue(), repo, home, received, deep_cache, victim_before, hub
    )


def _snapshot(repo: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file()
        and ".qaihm_lint_cache" not in path.parts
        and "__pycache__" not in path.parts
    }


def _remove_planted() -> None:
    import site

    for folder in {*site.getsitepackages(), os.path.dirname(os.__file__)}:
        planted = Path(folder, "qaihm_hostile_probe.pth")
        if planted.exists():
            planted.unlink()
            pytest.fail(f"a hostile model wrote {planted}")


def _confined(hostile: Hostile) -> bool:
    return hostile.mode != "off"


def _landlock(hostile: Hostile) -> bool:
    """Whether each worker is confined to its own folders (models apart from each other)."""
    return hostile.mode in ("auto", "landlock")


# ------------------------------------------------------------------ secrets


def test_no_secret_reaches_the_model_or_any_output(hostile: Hostile) -> None:
    report = hostile.report("spy_env")
    # The worker's own environment is clean in every mode; the other processes' (/proc) are
    # out of reach only in a sandbox.
    assert not any(name in report for name in SECRETS), report
    if _confined(hostile):
        assert report == "env=nothing"
        everything = hostile.err + "\n".join(d.message for d in hostile.result.diagnostics)
        everything += str(hostile.result.junit_cases())
        for secret in (*SECRETS.values(), INI_SECRET):
            assert secret not in everything


def test_the_users_files_are_out_of_reach(hostile: Hostile) -> None:
    report = hostile.report("spy_files")
    if _confined(hostile):
        # Hidden (bubblewrap) or refused (Landlock).
        assert INI_SECRET not in report
        assert report.startswith(("files=PermissionError", "files=FileNotFoundError"))
    # The model still reads what it legitimately may (system files).
    assert "hostname:" in report


def test_the_network_is_closed(hostile: Hostile) -> None:
    report = hostile.report("phone_home")
    if _confined(hostile):
        assert report.startswith("net=blocked") and hostile.received == []
    else:
        assert report == "net=connected"  # the baseline this sandbox is for


# ------------------------------------------------------------------ caches, tree, environment


def test_a_worker_cannot_write_the_caches_and_forgeries_are_not_believed(hostile: Hostile) -> None:
    report = hostile.report("poison_cache")
    if _landlock(hostile):
        assert "planted" not in report and "rewrote" not in report
    if _confined(hostile):
        # Refused (Landlock), or written into an empty folder that hid the real one (bubblewrap).
        assert not (hostile.repo / ".qaihm_lint_cache" / "planted.json").exists()
        assert not (hostile.deep_cache / "planted.json").exists()
    # Whatever was written, the second run's victim verdict is its own: a forged entry (an
    # empty list of records, "passed") fails its MAC and is a miss.
    (victim,) = [o for o in hostile.second.outcomes if o.folder.model_id == "victim"]
    assert victim.records, "a forged cache entry was believed"
    if _confined(hostile):
        assert victim.cached and all(r.status in ("ok", "skip") for r in victim.records)


def test_the_tree_and_other_models_are_read_only(hostile: Hostile) -> None:
    report = hostile.report("edit_tree")
    victim = (hostile.repo / "qai_hub_models/models/victim/model.py").read_text()
    if _confined(hostile):
        # The checked tree: refused (Landlock) or not there at all (bubblewrap).
        assert report.split("=")[1].split(",")[0] in ("PermissionError", "FileNotFoundError")
        assert victim == hostile.victim_before
    if _landlock(hostile):
        # Nor could it reach the victim's folder of the run's copy: its verdict is its own.
        assert not [d for d in hostile.result.diagnostics if d.model_id == "victim"]
    if _confined(hostile):
        # Whatever happened to the copy, the verdict kept for the victim is about its own code
        # (unconfined, the attack rewrote the checked tree itself: then that is its code).
        (again,) = [o for o in hostile.second.outcomes if o.folder.model_id == "victim"]
        assert again.records and all(r.status in ("ok", "skip") for r in again.records), again


def test_environments_are_read_only(hostile: Hostile) -> None:
    if not _confined(hostile):
        pytest.skip("unconfined, the attack would really write into this environment")
    report = hostile.report("poison_env")
    assert "wrote" not in report, report


def test_libraries_settings_stay_out_of_the_users_home(hostile: Hostile) -> None:
    assert not [d for d in hostile.result.diagnostics if d.model_id == "writes_config"]
    assert not (hostile.home / ".config").exists()


def test_a_model_writing_into_its_own_folder_works_and_keeps_its_cache_key(
    hostile: Hostile,
) -> None:
    assert not [d for d in hostile.result.diagnostics if d.model_id == "writes_own_folder"]
    folder = hostile.repo / "qai_hub_models/models/writes_own_folder"
    assert not (folder / "external_repos").exists()
    (outcome,) = [o for o in hostile.second.outcomes if o.folder.model_id == "writes_own_folder"]
    assert outcome.cached, "the second run missed the cache"


# ------------------------------------------------------------------ the runner


def test_the_parent_cannot_be_signalled(hostile: Hostile) -> None:
    report = hostile.report("signal_parent")
    if _confined(hostile):
        assert "delivered" not in report, report


def test_a_flood_on_the_events_pipe_is_a_failure_not_a_pass(hostile: Hostile) -> None:
    (finding,) = [d for d in hostile.result.diagnostics if d.model_id == "flood_pipe"]
    assert "cannot be trusted" in finding.message


def test_the_log_is_bounded(hostile: Hostile) -> None:
    assert hostile.report("flood_log") == "log=bounded"


def test_forking_past_the_cap_kills_the_whole_tree(hostile: Hostile) -> None:
    (finding,) = [d for d in hostile.result.diagnostics if d.model_id == "fork_past_cap"]
    assert f"ran out of memory (the limit of {MEMORY_CAP_MB} MiB" in finding.message
    assert "any processes it starts together" in finding.message
    assert "REPORT" not in finding.message


def test_a_forged_artifact_path_is_never_uploaded(hostile: Hostile) -> None:
    (outcome,) = [o for o in hostile.result.outcomes if o.folder.model_id == "forge_artifact"]
    refused = [r.message for r in outcome.records if "refuses" in r.message]
    # Both forgeries (a link in its folder, the file's own path) are refused; only the model
    # the worker really traced is submitted, from the parent's copy.
    assert len(refused) == 2, outcome.records
    assert any("'forged.pt' cannot be opened as a file" in m for m in refused)
    assert any("is not a .pt or .pt2 file" in m for m in refused)
    submitted = [s for s in hostile.hub.submissions if "forge_artifact" in str(s.get("name"))]
    assert len(submitted) == 1
    assert "qaihm-deep-parent-" in str(submitted[0]["model"])
