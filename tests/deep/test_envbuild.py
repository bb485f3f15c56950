"""Environments built with uv from real PyPI installs (small packages only): torch, onnx and
onnxruntime are the invoking environment's, layered, never downloaded again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from qaihm_lint.deep import DeepOptions, DeepResult, run_deep_detailed
from qaihm_lint.deep.base_env import base_interpreter
from qaihm_lint.deep.envbuild import EnvFailure, EnvStore, trim
from qaihm_lint.deep.environments import EnvSpec, RequirementsText, plan_environments
from tests.deep.builders import add_model
from tests.deep.conftest import MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

pytestmark = [pytest.mark.deep, pytest.mark.slow]

USES_SIX = "import six  # noqa: F401"
OWN_ENV = "global_requirements_incompatible: true\n"


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("uv")
    return tmp_path_factory.mktemp("envs")


def run(
    repo: Path,
    env_dir: Path,
    cache: Path | None,
    models: tuple[str, ...] = ("good", "in_global", "own_ok", "own_broken"),
    **overrides: object,
) -> DeepResult:
    settings: dict[str, object] = {
        "compile": False,
        "stages": frozenset({"load"}),
        "timeout": STAGE_TIMEOUT,
        "jobs": 2,
        "cache_dir": cache,
        "use_cache": cache is not None,
        "progress": False,
        "memory_limit_mb": MEMORY_LIMIT_MB,
        "environments": True,
        "env_dir": env_dir,
    }
    settings.update(overrides)
    return run_deep_detailed(folders_of(repo, *models), DeepOptions(**settings))  # type: ignore[arg-type]


def test_models_run_in_the_environments_upstreams_ci_builds(
    fixture_copy: Path, env_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (fixture_copy / "qai_hub_models/global_requirements.txt").write_text(
        "torch>=2.1,<2.2\nsix==1.16.0\n"  # a torch pin the user's torch does not meet
    )
    add_model(fixture_copy, "in_global", imports=USES_SIX)
    add_model(
        fixture_copy,
        "own_ok",
        imports=USES_SIX,
        files={"code-gen.yaml": OWN_ENV, "requirements.txt": "six==1.17.0\n"},
    )
    add_model(
        fixture_copy,
        "own_broken",
        files={"code-gen.yaml": OWN_ENV, "requirements.txt": "six==0.0.999\n"},
    )
    first = run(fixture_copy, env_dir, tmp_path / "cache")
    findings = {d.model_id: d for d in first.diagnostics}
    assert set(findings) == {"own_broken"}, [d.message for d in first.diagnostics]
    broken = findings["own_broken"]
    assert broken.code == "QAI801"
    assert "could not be built" in broken.message and "six==0.0.999" in broken.message
    assert "Traceback" not in broken.message and "\n" not in broken.message
    err = capfd.readouterr().err
    assert "environment global" in err and "built in" in err
    # The build is told while it runs (issue 21 item 7), before its result.
    building = err.index(": building for ")
    assert building < err.index("resolved ") < err.index("built in")
    assert "checking that torch, onnx and onnxruntime import" in err
    assert "replace torch>=2.1,<2.2" in err

    # Layered, not installed: the venv has torch's metadata but not a copy of torch.
    (home,) = [
        p
        for p in env_dir.iterdir()
        if (p / "venv").is_dir()
        and "six==1.16.0" in ("".join(f.read_text() for f in (p / "requirements").iterdir()))
    ]
    site = next((home / "venv").glob("lib/python*/site-packages"))
    assert not (site / "torch").exists()
    assert any(site.glob("torch-*.dist-info"))
    assert (home / "layer" / "torch").is_symlink()
    torch_dist = next(d for d in base_interpreter().dists if d.name == "torch")
    assert (home / "layer" / "torch").resolve() == (Path(torch_dist.site) / "torch").resolve()

    # A failed environment is never cached; the others are, and their environments reused.
    second = run(fixture_copy, env_dir, tmp_path / "cache")
    assert second.workers_run == 0
    assert {d.model_id for d in second.diagnostics} == {"own_broken"}
    # Another run (another process) finds the environments built: nothing to install.
    plan = plan_environments(folders_of(fixture_copy, "good", "own_ok"), base_interpreter())
    for spec in plan.specs():
        again = EnvStore(env_dir, plan.base).ensure(spec)
        assert again.reused and again.seconds < 5


def test_concurrent_runs_build_an_environment_once(env_dir: Path) -> None:
    base = base_interpreter()
    spec = EnvSpec("global", (RequirementsText("global_requirements.txt", "six==1.16.0\n"),))
    spec = EnvSpec(spec.name, spec.files, key="concurrency-" + "0" * 52)
    results: list[object] = []

    def build() -> None:
        # Separate stores: only the file lock stands between them, as between two processes.
        try:
            results.append(EnvStore(env_dir, base).ensure(spec))
        except EnvFailure as exc:
            results.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reused = sorted(getattr(r, "reused", None) is True for r in results)
    assert reused == [False, True], results
    assert (env_dir / spec.key / "ready.json").is_file()


def test_uv_messages_are_trimmed_to_one_line() -> None:
    raw = (
        "Using Python 3.11.7 environment at: venv\n"
        "  \x1b[31m\u00d7\x1b[0m No solution found when resolving dependencies:\n"
        "  ╰─▶ Because there is no version of six==0.0.999 and you require six==0.0.999, we can\n"
        "      conclude that your requirements are unsatisfiable.\n"
        "\n      hint: pypi has other versions\n"
    )
    assert trim(raw) == (
        "No solution found when resolving dependencies: Because there is no version of "
        "six==0.0.999 and you require six==0.0.999, we can conclude that your requirements "
        "are unsatisfiable."
    )


def test_an_environment_changed_since_its_build_is_rebuilt(env_dir: Path) -> None:
    # Issue 19: a .pth dropped into a built environment ran in every later model's worker.
    base = base_interpreter()
    spec = EnvSpec("global", (RequirementsText("global_requirements.txt", "six==1.16.0\n"),))
    spec = EnvSpec(spec.name, spec.files, key="tampered-" + "0" * 55)
    built = EnvStore(env_dir, base).ensure(spec)
    assert EnvStore(env_dir, base).ensure(spec).reused
    (site,) = (env_dir / spec.key / "venv").glob("lib/python*/site-packages")
    (site / "planted.pth").write_text("import os; os.environ['PWNED'] = '1'\n")
    again = EnvStore(env_dir, base).ensure(spec)
    assert not again.reused, "a tampered environment was reused"
    assert not (site / "planted.pth").exists()
    assert again.python == built.python


def test_an_unreachable_index_is_a_setup_error_not_a_finding(tmp_path: Path) -> None:
    """A build that cannot reach the package index stops the run (exit 2 via DeepError), once,
    instead of a QAI801 finding per model."""
    from qaihm_lint.deep.envbuild import EnvSetupError

    pytest.importorskip("uv")
    base = base_interpreter()
    text = "--index-url http://127.0.0.1:9/simple\nqaihm-lint-no-such-dist==1.0\n"
    spec = EnvSpec("global", (RequirementsText("global_requirements.txt", text),))
    spec = EnvSpec(spec.name, spec.files, key="unreachable-" + "0" * 52)
    with pytest.raises(EnvSetupError, match="package index cannot be reached"):
        EnvStore(tmp_path / "envs", base).ensure(spec)
    assert not (tmp_path / "envs" / spec.key).exists()


def test_a_setup_failure_stops_the_run_with_one_line(fixture_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")  # without the [deep] extra the run stops earlier, on that
    pytest.importorskip("uv")
    from qaihm_lint.deep import DeepError

    (fixture_copy / "qai_hub_models/global_requirements.txt").write_text(
        "--index-url http://127.0.0.1:9/simple\nqaihm-lint-no-such-dist==1.0\n"
    )
    with pytest.raises(DeepError) as caught:
        run(fixture_copy, tmp_path / "envs", None, ("good",))
    text = str(caught.value)
    assert text.startswith("--deep cannot build the models' environments:")
    assert "package index cannot be reached" in text and "\n" not in text


def test_a_shared_package_that_fails_in_the_built_environment_is_a_setup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchvision comes from the invoking environment: when it does not import in a built one,
    the machine's set-up is at fault (exit 2), not the tree, and nothing half-built is kept."""
    from qaihm_lint.deep.envbuild import EnvSetupError

    pytest.importorskip("uv")
    base = base_interpreter()
    spec = EnvSpec("global", (RequirementsText("global_requirements.txt", ""),))
    spec = EnvSpec(spec.name, spec.files, key="verify-" + "0" * 57, layered=("torchvision",))
    real_run = EnvStore._run

    def run_command(self: EnvStore, command: list[str], what: str, *more: object) -> None:
        if what == "checking the environment":  # what a mismatched torchvision prints there
            raise EnvFailure(
                "checking the environment failed: torchvision 0.28.0 does not import: "
                "RuntimeError: operator torchvision::nms does not exist"
            )
        real_run(self, command, what, *more)  # type: ignore[arg-type]

    monkeypatch.setattr(EnvStore, "_run", run_command)
    with pytest.raises(EnvSetupError, match="shared from the environment that runs qaihm-lint"):
        EnvStore(tmp_path / "envs", base).ensure(spec)
    assert not (tmp_path / "envs" / spec.key).exists()
    # The same failure of a package the tree's files installed is the tree's: a finding.
    tree_spec = EnvSpec(spec.name, spec.files, key="verify-tree-" + "0" * 52, layered=())
    with pytest.raises(EnvFailure) as caught:
        EnvStore(tmp_path / "envs", base).ensure(tree_spec)
    assert not isinstance(caught.value, EnvSetupError)
