"""``qaihm-lint server`` as a command: its help, and one line when the extra is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qaihm_lint.cli import main


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
