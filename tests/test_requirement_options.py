"""Requirement options that would make the installer read a file outside the package (issue
19): `-c ../../proc/self/environ` in requirements.txt, `pip_install_flags: -c /proc/...` in
code-gen.yaml. Each is a QAI304 finding and never reaches uv; what uv prints is scrubbed."""

from __future__ import annotations

import pytest

from qaihm_lint.deep.sandbox import build_environment, scrub
from qaihm_lint.testing import Tree
from tests.conftest import RunCli

ESCAPE = "../../../../../../../../proc/self/environ"


@pytest.mark.parametrize(
    "line",
    [f"-c {ESCAPE}", f"--constraint={ESCAPE}", "-c/proc/self/environ", "-r /etc/passwd"],
)
def test_an_option_reading_outside_the_package_is_qai304(
    tree: Tree, run_cli: RunCli, line: str
) -> None:
    tree.write("models/example/requirements.txt", f"numpy==1.26.4\n{line}\n")
    code, out, _ = run_cli(tree.model(), "--no-cache", "--select", "QAI304")
    assert code == 1 and "QAI304" in out and "points outside" in out, out
    assert "requirements.txt:2:" in out


def test_a_constraints_file_beside_the_requirements_is_fine(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/constraints.txt", "numpy<2\n")
    tree.write("models/example/requirements.txt", "numpy==1.26.4\n-c constraints.txt\n")
    code, out, _ = run_cli(tree.model(), "--no-cache", "--select", "QAI304")
    assert code == 0, out


def test_pip_install_flags_reading_a_special_file_are_qai304(tree: Tree, run_cli: RunCli) -> None:
    tree.write(
        "models/example/code-gen.yaml",
        "global_requirements_incompatible: true\npip_install_flags: -c /proc/self/environ\n",
    )
    code, out, _ = run_cli(tree.model(), "--no-cache", "--select", "QAI304")
    assert code == 1 and "pip_install_flags" in out and "points outside" in out, out
    assert "code-gen.yaml:2:" in out


def test_refused_options_never_reach_uv(tree: Tree) -> None:
    from qaihm_lint.deep.environments import BaseInterpreter, EnvSpec, plan_environments
    from qaihm_lint.workspace import discover

    tree.write(
        "models/example/code-gen.yaml",
        "global_requirements_incompatible: true\n"
        "pip_install_flags: --no-deps -c /proc/self/environ\n",
    )
    tree.write("models/example/requirements.txt", f"numpy==1.26.4\n-c {ESCAPE}\n")
    base = BaseInterpreter("/usr/bin/python3", "3.11.7", {"python_version": "3.11"}, ())
    plan = plan_environments(discover([tree.package]).folders, base).by_model
    spec = plan["example"]
    assert isinstance(spec, EnvSpec)
    assert spec.pip_flags == ()
    text = "\n".join(part.text for part in spec.files)
    assert "environ" not in text and "numpy==1.26.4" in text


def test_what_uv_prints_is_scrubbed_of_the_environment() -> None:
    env = {"QAIHUB_API_TOKEN": "tok-1234567890", "PATH": "/usr/bin", "HOME": "/home/me"}
    said = "error: cannot parse /proc/self/environ: QAIHUB_API_TOKEN=tok-1234567890 HOME=/home/me"
    cleaned = scrub(said, env)
    assert "tok-1234567890" not in cleaned and "$QAIHUB_API_TOKEN" in cleaned
    # The build itself never gets the token.
    assert "QAIHUB_API_TOKEN" not in build_environment(env)
    assert build_environment({**env, "UV_INDEX_URL": "https://x"})["UV_INDEX_URL"] == "https://x"
