"""Which environment each model gets, and what uv is asked to install (no installs here)."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.deep.base_env import BaseInterpreter, LayeredDist, base_interpreter
from qaihm_lint.deep.environments import EnvSkip, EnvSpec, plan_environments
from qaihm_lint.workspace import discover
from tests.deep.builders import add_model

MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
BASE = BaseInterpreter(
    "/usr/bin/python3.11",
    "3.11.7",
    MARKERS,
    (
        LayeredDist("torch", "2.13.0+cpu", "/site", ("torch",), "torch-2.13.0+cpu.dist-info"),
        LayeredDist(
            "torchvision", "0.28.0+cpu", "/site", ("torchvision",), "torchvision-0.28.0.dist-info"
        ),
    ),
)


def plan_for(repo: Path, base: BaseInterpreter = BASE) -> dict[str, EnvSpec | EnvSkip]:
    folders = discover([repo / "qai_hub_models"]).folders
    return plan_environments(folders, base).by_model


def write_global(repo: Path, text: str) -> None:
    (repo / "qai_hub_models" / "global_requirements.txt").write_text(text)


def test_models_share_the_global_environment_unless_their_pins_conflict(
    fixture_copy: Path,
) -> None:
    write_global(fixture_copy, "torch>=2.4,<2.9\ntransformers~=4.56.2\nsix==1.16.0\n")
    add_model(fixture_copy, "agrees", files={"requirements.txt": "transformers==4.56.2\n"})
    add_model(fixture_copy, "conflicts", files={"requirements.txt": "transformers==4.45.0\n"})
    add_model(fixture_copy, "unlisted", files={"requirements.txt": "loguru==0.7.2\n"})
    # A marker that does not hold on this interpreter makes no conflict.
    add_model(
        fixture_copy,
        "other_python",
        files={"requirements.txt": "transformers==4.45.0; python_version < '3.10'\n"},
    )
    # torch is the user's whatever a model pins, so torch pins never force an environment.
    add_model(fixture_copy, "pins_torch", files={"requirements.txt": "torch==2.4.1\n"})
    plan = plan_for(fixture_copy)
    names = {model: spec.name for model, spec in plan.items() if isinstance(spec, EnvSpec)}
    assert names["agrees"] == names["good"] == names["other_python"] == "global"
    assert names["pins_torch"] == "global"
    assert names["conflicts"] == "conflicts"
    assert names["unlisted"] == "unlisted"
    global_key = plan["good"].key if isinstance(plan["good"], EnvSpec) else ""
    assert len({spec.key for spec in plan.values() if isinstance(spec, EnvSpec)}) == 3
    assert all(
        spec.key == global_key
        for spec in plan.values()
        if isinstance(spec, EnvSpec) and spec.name == "global"
    )


def test_code_gen_flag_decides_when_present(fixture_copy: Path) -> None:
    write_global(fixture_copy, "transformers~=4.56.2\n")
    add_model(
        fixture_copy,
        "opted_out",
        files={"code-gen.yaml": "global_requirements_incompatible: true\n"},
    )
    # The file exists without the flag: the model shares, whatever the pins say.
    add_model(
        fixture_copy,
        "opted_in",
        files={"code-gen.yaml": "is_aimet: false\n", "requirements.txt": "transformers==4.45\n"},
    )
    plan = plan_for(fixture_copy)
    assert isinstance(plan["opted_out"], EnvSpec) and plan["opted_out"].name == "opted_out"
    assert isinstance(plan["opted_in"], EnvSpec) and plan["opted_in"].name == "global"


def test_own_environment_gets_package_and_model_requirements_with_layered_pins_relaxed(
    fixture_copy: Path,
) -> None:
    (fixture_copy / "qai_hub_models" / "requirements.txt").write_text(
        "torch>=2.4,<2.9.0\ntorchvision>=0.19,<0.24; sys_platform == 'linux'\nnumpy<3\n"
    )
    add_model(
        fixture_copy,
        "own",
        files={
            "requirements.txt": "-r extra.txt\nonnx==1.17.0\nsix==1.16.0  # comment\n",
            "extra.txt": "loguru==0.7.2\n",
            "code-gen.yaml": (
                "global_requirements_incompatible: true\n"
                "pip_install_flags: --no-build-isolation --use-pep517\n"
                "pip_pre_build_reqs: setuptools wheel\n"
            ),
        },
    )
    spec = plan_for(fixture_copy)["own"]
    assert isinstance(spec, EnvSpec)
    package, model = spec.files
    assert package.label == "qai_hub_models/requirements.txt"
    assert package.text.splitlines() == [
        "torch",
        'torchvision ; sys_platform == "linux"',
        "numpy<3",
    ]
    # onnx is not installed where qaihm-lint runs (BASE): the environment installs the pin.
    assert model.text.splitlines() == ["loguru==0.7.2", "onnx==1.17.0", "six==1.16.0"]
    assert set(spec.relaxed) == {
        "torch>=2.4,<2.9.0",
        "torchvision>=0.19,<0.24; sys_platform == 'linux'",
    }
    assert spec.pip_flags == ("--no-build-isolation",)
    assert spec.pre_build == ("setuptools", "wheel")


def test_key_follows_what_determines_the_environment(fixture_copy: Path) -> None:
    first = plan_for(fixture_copy)["good"]
    assert isinstance(first, EnvSpec)
    write_global(fixture_copy, "torch>=2.1\nsix==1.16.0\n")
    second = plan_for(fixture_copy)["good"]
    assert isinstance(second, EnvSpec) and second.key != first.key
    newer_torch = BaseInterpreter(
        BASE.executable,
        BASE.python_version,
        MARKERS,
        (LayeredDist("torch", "2.14.1", "/site", ("torch",), "torch-2.14.1.dist-info"),),
    )
    third = plan_for(fixture_copy, newer_torch)["good"]
    assert isinstance(third, EnvSpec) and third.key != second.key
    # Folder content that is not a requirement leaves the environment alone.
    (fixture_copy / "qai_hub_models/models/good/model.py").write_text("# edited\n")
    assert plan_for(fixture_copy)["good"] == second


def test_python_bounds_skip_like_upstream(fixture_copy: Path) -> None:
    add_model(
        fixture_copy,
        "old_python_only",
        files={
            "code-gen.yaml": (
                "python_version_less_than: '3.11'\n"
                "python_version_less_than_reason: needs a wheel built for 3.10\n"
            )
        },
    )
    skip = plan_for(fixture_copy)["old_python_only"]
    assert isinstance(skip, EnvSkip)
    assert "needs Python <3.11 (needs a wheel built for 3.10)" in skip.message
    assert "Python 3.11.7" in skip.message


def test_base_interpreter_reads_the_installed_stack() -> None:
    import importlib.metadata

    import pytest

    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs the [deep] extra")
    base = base_interpreter()
    pins = base.pins()
    assert pins["torch"] == torch_version
    torch = next(dist for dist in base.dists if dist.name == "torch")
    assert "torch" in torch.entries
    assert torch.dist_info.endswith(".dist-info")
    assert (Path(torch.site) / torch.dist_info / "METADATA").is_file()


def test_a_missing_system_library_is_the_machines_not_the_models() -> None:
    from qaihm_lint.deep.inside.worker import Worker
    from qaihm_lint.deep.inside.worker_explain import cause_of as _cause

    error = OSError("PortAudio library not found")
    assert _cause(error) == "environment"
    assert _cause(ValueError("bad shape")) is None
    worker = Worker.__new__(Worker)
    worker.repo_root = Path("/nonexistent")
    worker.memory_limit_mb = None
    message = worker.describe("import", error)
    assert "system library is missing" in message and "libportaudio2" in message


def _base_with(*dists: tuple[str, str]) -> BaseInterpreter:
    return BaseInterpreter(
        BASE.executable,
        BASE.python_version,
        MARKERS,
        tuple(
            LayeredDist(name, version, "/site", (name,), f"{name}-{version}.dist-info")
            for name, version in sorted((("torch", "2.14.1"), *dists))
        ),
    )


def test_onnx_is_shared_only_where_the_trees_pins_allow_it(fixture_copy: Path) -> None:
    """Issue 21 item 2: 0.65.0 pins onnx<=1.18.0; forcing the invoking onnx 1.23.2 made its
    global environment unsatisfiable."""
    write_global(fixture_copy, "onnx>=1.17,<=1.18.0\nonnxruntime>=1.19,<=1.22.1\ntorch<2.9\n")
    newer = plan_for(fixture_copy, _base_with(("onnx", "1.23.2"), ("onnxruntime", "1.22.0")))
    spec = newer["good"]
    assert isinstance(spec, EnvSpec)
    (global_file,) = [f for f in spec.files if f.label == "global_requirements.txt"]
    # onnx keeps the tree's pin and is not layered; onnxruntime 1.22.0 fits and is shared.
    assert global_file.text.splitlines() == ["onnx>=1.17,<=1.18.0", "onnxruntime", "torch"]
    assert spec.layered == ("onnxruntime", "torch") and spec.installed == ("onnx",)
    assert "onnx>=1.17,<=1.18.0" not in spec.relaxed
    fitting = plan_for(fixture_copy, _base_with(("onnx", "1.18.0"), ("onnxruntime", "1.22.0")))
    shared = fitting["good"]
    assert isinstance(shared, EnvSpec) and shared.layered == ("onnx", "onnxruntime", "torch")
    assert shared.key != spec.key


def test_the_packages_declared_dependencies_are_installed(fixture_copy: Path) -> None:
    """Issue 21 item 3: 0.65.0's wheel requires qai_hub_models_cli, which no requirements
    file names; upstream's CI installs it with the package."""
    info = fixture_copy / "qai_hub_models-0.65.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.4\nName: qai_hub_models\nVersion: 0.65.0\n"
        "Requires-Dist: qai_hub_models_cli==0.65.0\n"
        "Requires-Dist: onnx<=1.18.0,>=1.17\n"
        'Requires-Dist: ai-edge-litert<=2.1.1; python_version < "3.9"\n'
        'Requires-Dist: pytest<=8.4.2,>7; extra == "dev"\n'
    )
    spec = plan_for(fixture_copy, _base_with(("onnx", "1.23.2")))["good"]
    assert isinstance(spec, EnvSpec)
    declared = next(f for f in spec.files if f.label.endswith("METADATA"))
    assert declared.label == "qai_hub_models-0.65.0.dist-info/METADATA"
    # Extras and markers that do not hold here are left out; the onnx pin keeps onnx apart.
    assert declared.text.splitlines() == ["qai_hub_models_cli==0.65.0", "onnx<=1.18.0,>=1.17"]
    assert "onnx" not in (spec.layered or ())


def test_a_source_checkout_declares_its_dependencies_in_pyproject(fixture_copy: Path) -> None:
    (fixture_copy / "pyproject.toml").write_text(
        '[project]\nname = "qai_hub_models"\ndependencies = ["qai_hub_models_cli==0.65.0"]\n'
    )
    spec = plan_for(fixture_copy)["good"]
    assert isinstance(spec, EnvSpec)
    assert any(f.label == "pyproject.toml" and "qai_hub_models_cli" in f.text for f in spec.files)


def test_a_companion_the_invoking_environment_lacks_is_a_setup_error(fixture_copy: Path) -> None:
    """Issue 21 item 1: the index's torchaudio would not load beside the user's torch; say so
    before any build."""
    write_global(fixture_copy, "torchaudio>=2.4\nsix==1.16.0\n")
    folders = discover([fixture_copy / "qai_hub_models"]).folders
    plan = plan_environments(folders, _base_with(("torchvision", "0.29.1")))
    why = plan.unmatched()
    assert why is not None and "torchaudio (global_requirements.txt)" in why
    assert "torch 2.14.1" in why and "\n" not in why
    write_global(fixture_copy, "torchvision>=0.19\nsix==1.16.0\n")
    folders = discover([fixture_copy / "qai_hub_models"]).folders
    assert plan_environments(folders, _base_with(("torchvision", "0.29.1"))).unmatched() is None
