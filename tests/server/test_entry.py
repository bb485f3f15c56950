"""``qaihm-lint server`` as a command: its help, and one line when the extra is missing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qaihm_lint.cli import main

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_server_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["server", "--help"])
    assert exited.value.code == 0 and "language server" in capsys.readouterr().out


def test_without_the_extra_the_server_says_which_to_install() -> None:
    hidden = "import sys; sys.modules['pygls'] = None; from qaihm_lint.cli import main; "
    done = subprocess.run(
        [sys.executable, "-c", hidden + "sys.exit(main(['server']))"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "qaihm-lint[server]" in done.stderr, done.stderr


def test_a_bad_server_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bogus" in err


def _blocks(language: str) -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    editors = readme.split("## Editors", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", editors, re.DOTALL)


def test_the_readme_editor_snippets_start_this_server() -> None:
    (helix,) = _blocks("toml")
    config = tomllib.loads(helix)
    server = config["language-server"]["qaihm-lint"]
    assert [server["command"], *server["args"]] == ["qaihm-lint", "server"]
    assert all("qaihm-lint" in language["language-servers"] for language in config["language"])
    (vscode,) = _blocks("json")
    settings = json.loads(vscode)
    assert [settings["glspc.server.command"], *settings["glspc.server.commandArguments"]] == [
        "qaihm-lint",
        "server",
    ]
    (neovim,) = _blocks("lua")
    assert "cmd = { 'qaihm-lint', 'server' }" in neovim


def test_the_server_sits_on_top_like_the_cli() -> None:
    """Nothing below imports the server: only the CLI starts it."""
    package = Path(__file__).resolve().parents[2] / "qaihm_lint"
    importers = set()
    for path in package.rglob("*.py"):
        if "server" in path.relative_to(package).parts:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(from|import) qaihm_lint\.server\b", text, re.MULTILINE):
            importers.add(path.relative_to(package).as_posix())
    assert importers == {"cli.py"}
