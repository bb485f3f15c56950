"""The whole engine on folders of unfinished work: mutated real-shaped files, random bytes,
random requirement lines and YAML. Nothing escapes ``check_folder`` or ``main``, no rule crashes
(QAI002), every finding points inside its file, and a fix never leaves a file that does not
parse."""

from __future__ import annotations

import ast
import contextlib
import io
import random
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from qaihm_lint import testing
from qaihm_lint.cli import main
from qaihm_lint.config import Settings
from qaihm_lint.engine import check_folder, make_plan
from qaihm_lint.testing import build_tree
from qaihm_lint.workspace import Layout, discover
from tests.reliability._support import (
    budget,
    changed_entries,
    check_findings,
    encode,
    mutate,
    snapshot,
)

ALL = Settings(select=("ALL",), jobs=1, use_cache=False)


@contextlib.contextmanager
def _scratch():  # type: ignore[no-untyped-def]
    directory = Path(tempfile.mkdtemp(prefix="qaihm-fuzz-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _check(model: Path) -> None:
    workspace = discover([model])
    plan = make_plan(ALL)
    (folder,) = workspace.folders
    check_findings(check_folder(folder, plan))


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _extra_files(layout: Layout) -> dict[str, str]:
    files = {
        "requirements.txt": "torch==2.4.0\nnumpy\nPillow>=10  # noqa: QAI301\n",
        "code-gen.yaml": "global_requirements_incompatible: true\nskip_export: false\n",
    }
    if layout is Layout.MANIFEST:
        files["test.py"] = testing.MANIFEST_TEST_PY
    return files


@budget(60, deadline_ms=None)
@given(
    st.randoms(use_true_random=False),
    st.sampled_from(list(Layout)),
    st.integers(1, 6),
    st.integers(0, 3),
)
def test_mutated_real_shaped_folder(
    rng: random.Random, layout: Layout, rounds: int, victims: int
) -> None:
    files = {**testing.default_model_files(layout), **_extra_files(layout)}
    names = sorted(files)
    with _scratch() as root:
        tree = build_tree(root / "repo", layout=layout)
        model = tree.model()
        for name in rng.sample(names, k=min(len(names), victims + 1)):
            (model / name).write_bytes(encode(mutate(files[name], rng, rounds), rng))
        _check(model)


@budget(40, deadline_ms=None)
@given(
    st.sampled_from(
        [
            "model.py",
            "app.py",
            "test.py",
            "__init__.py",
            "info.yaml",
            "requirements.txt",
            "code-gen.yaml",
            "manifest.yaml",
            "demo.py",
        ]
    ),
    st.binary(max_size=600),
)
def test_random_bytes_in_any_file(name: str, data: bytes) -> None:
    with _scratch() as root:
        tree = build_tree(root / "repo")
        (tree.model() / name).write_bytes(data)
        _check(tree.model())


@budget(40, deadline_ms=None)
@given(st.randoms(use_true_random=False), st.integers(0, 400))
def test_truncated_files(rng: random.Random, cut: int) -> None:
    files = {**testing.default_model_files(Layout.INFO), **_extra_files(Layout.INFO)}
    with _scratch() as root:
        tree = build_tree(root / "repo")
        for name, text in files.items():
            data = text.encode()
            (tree.model() / name).write_bytes(data[: rng.randint(0, len(data))])
        _check(tree.model())


NAMES = st.sampled_from(
    [
        "torch",
        "numpy",
        "Pillow",
        "pillow",
        "opencv-python",
        "ultralytics",
        "torch_vision",
        "a",
        "A.B-c_d",
        "",
        "-",
        "9x",
    ]
)
SPECS = st.sampled_from(
    [
        "",
        "==1.0",
        "==2.4.0",
        ">=1",
        "<3",
        "~=1.2",
        "===x",
        "==1.*",
        "!=1",
        ">=1,<2",
        "== 1.0",
        "==",
        "==1.0.0+local",
        " @ https://x/y.whl",
        "==v1",
        ">=1;",
        "(>=1)",
    ]
)
TAILS = st.sampled_from(
    [
        "",
        " ; python_version < '3.11'",
        "; sys_platform == 'linux'",
        " --hash=sha256:abc",
        "  # noqa: QAI301",
        "  # comment",
        " \\",
        "; extra == 'x'",
        ";python_version<'3",
        " # noqa",
        "\t",
    ]
)
REQUIREMENT_LINE = st.one_of(
    st.builds(
        lambda n, x, s, t: f"{n}{x}{s}{t}",
        NAMES,
        st.sampled_from(["", "[cuda]", "[a,b]", "[", "[]"]),
        SPECS,
        TAILS,
    ),
    st.sampled_from(
        [
            "-r requirements.txt",
            "-r ../other/requirements.txt",
            "-r missing.txt",
            "-c constraints.txt",
            "-e .",
            "--index-url https://x",
            "--extra-index-url",
            "git+https://github.com/a/b@0123456789abcdef0123456789abcdef01234567#egg=b",
            "git+https://github.com/a/b@main",
            "git+https://github.com/a/b.git",
            "https://example.com/pkg-1.0.tar.gz",
            "./local",
            "",
            "#",
            "\\",
            "--hash=sha256:x",
            "-",
        ]
    ),
    st.text(max_size=30).map(lambda s: s.replace("\x00", "")),
)


@budget(60, deadline_ms=None)
@given(
    st.lists(REQUIREMENT_LINE, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(
        [
            "",
            "global_requirements_incompatible: true\n",
            "global_requirements_incompatible: maybe\n",
            "[",
            "- a\n",
        ]
    ),
    st.lists(REQUIREMENT_LINE, max_size=4),
)
def test_requirement_lines_through_the_engine(
    lines: list[str], newline: str, code_gen: str, global_lines: list[str]
) -> None:
    with _scratch() as root:
        tree = build_tree(
            root / "repo",
            package_files={
                "global_requirements.txt": testing.GLOBAL_REQUIREMENTS + "\n".join(global_lines)
            },
        )
        (tree.model() / "requirements.txt").write_bytes(newline.join(lines).encode())
        if code_gen:
            (tree.model() / "code-gen.yaml").write_text(code_gen)
        (tree.model("other") / "requirements.txt").parent.mkdir(exist_ok=True)
        _check(tree.model())
        # The fix loop on the same folder: exit 0/1 only, and requirement fixes keep the line
        # endings of the file.
        before = (tree.model() / "requirements.txt").read_bytes()
        code, _out, err = _cli(
            str(tree.model()), "--fix", "--unsafe-fixes", "--no-cache", "--select", "ALL"
        )
        assert code in (0, 1), err
        assert "internal error" not in err and "Traceback" not in err, err
        after = (tree.model() / "requirements.txt").read_bytes()
        if newline == "\r\n" and after != before and b"\n" in after.replace(b"\r\n", b""):
            # A lone \n after the fix must have been in the file before it.
            assert b"\n" in before.replace(b"\r\n", b""), (before, after)


@budget(40, deadline_ms=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.booleans())
def test_cli_fix_on_mutated_folder(rng: random.Random, rounds: int, crlf: bool) -> None:
    """``--fix --unsafe-fixes`` twice: exit 0/1, every changed Python file parses, nothing
    outside the folder changes, no temp file is left, and the second run changes nothing."""
    files = {**testing.default_model_files(Layout.INFO), **_extra_files(Layout.INFO)}
    with _scratch() as root:
        tree = build_tree(root / "repo")
        model = tree.model()
        for name in rng.sample(sorted(files), k=3):
            text = mutate(files[name], rng, rounds)
            if crlf:
                text = text.replace("\r\n", "\n").replace("\n", "\r\n")
            (model / name).write_bytes(text.encode("utf-8", "surrogatepass"))
        before = snapshot(root)
        code, _out, err = _cli(
            str(model), "--fix", "--unsafe-fixes", "--no-cache", "--select", "ALL"
        )
        assert code in (0, 1), err
        assert "internal error" not in err, err
        after = snapshot(root)
        for relative in changed_entries(before, after):
            assert relative.startswith("repo/qai_hub_models/models/example/"), relative
            assert not Path(relative).name.endswith(".tmp"), relative
            data = after.get(relative)
            assert isinstance(data, bytes), relative
            if relative.endswith(".py"):
                old = before.get(relative)
                if isinstance(old, bytes):
                    with contextlib.suppress(SyntaxError, ValueError):
                        ast.parse(old)
                        ast.parse(data)  # parsed before the fix: must parse after it
                    if crlf and b"\r\n" in old:
                        assert b"\n" not in data.replace(b"\r\n", b""), relative
        code2, _out2, err2 = _cli(
            str(model), "--fix", "--unsafe-fixes", "--no-cache", "--select", "ALL"
        )
        assert code2 in (0, 1), err2
        assert snapshot(root) == after, "a second --fix changed the tree"
