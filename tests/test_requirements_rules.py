"""Requirements parsing (pip's reading, with packaging) and the QAI301-QAI306 rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from qaihm_lint import requirements_file as rf
from qaihm_lint.rules import requirements as rules
from qaihm_lint.sources import SourceFile
from qaihm_lint.testing import build_tree, fix_paths, lint_paths
from qaihm_lint.workspace import Layout

FLAG = "global_requirements_incompatible"


def parse(text: str | bytes, name: str = "requirements.txt") -> rf.RequirementsFile:
    data = text.encode() if isinstance(text, str) else text
    return rf.parse_source(SourceFile(Path("/virtual") / name, data))


def codes(findings: list, code: str | None = None) -> list[tuple[str, str, int]]:
    return [(d.code, d.path.name, d.start.row) for d in findings if code is None or d.code == code]


# ---------------------------------------------------------------------------------------------
# The parser.


def test_pip_syntax() -> None:
    parsed = parse(
        "# a comment\n"
        "\n"
        "scipy>=1.8.1,<2 # 1.8.1 is for AIMET\n"
        "Pillow[extra]==10.0 ; python_version < '3.12'\n"
        "numpy \\\n"
        "  ==1.26.4\n"
        "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        "-r other.txt\n"
        "foo==1.0 --hash=sha256:abcdef\n"
        "git+https://github.com/org/b@0123456789abcdef0123456789abcdef01234567#egg=b\n"
        "c @ git+https://github.com/org/c@main\n"
    )
    by_row = {line.row: line for line in parsed.lines}
    assert sorted(by_row) == [3, 4, 5, 7, 8, 9, 10, 11]
    assert by_row[3].name == "scipy" and str(by_row[3].specifier) == "<2,>=1.8.1"
    assert by_row[3].comment == "# 1.8.1 is for AIMET" and not by_row[3].is_pinned
    assert by_row[4].name == "pillow" and by_row[4].is_pinned and by_row[4].marker is not None
    assert by_row[5].end_row == 6 and by_row[5].pinned_version == "1.26.4"
    assert by_row[7].option == "--extra-index-url" and by_row[7].requirement is None
    assert by_row[8].option == "-r" and by_row[8].option_value == "other.txt"
    assert by_row[9].pinned_version == "1.0" and by_row[9].error is None
    assert by_row[10].is_vcs and by_row[10].is_pinned and by_row[10].name == "b"
    assert by_row[11].is_vcs and by_row[11].vcs_ref == "main" and not by_row[11].is_pinned
    assert all(line.error is None for line in parsed.lines)


@pytest.mark.parametrize(
    ("line", "pinned"),
    [
        ("a==1.0", True),
        ("a===1.0-weird", True),
        ("a==1.*", False),
        ("a~=1.0", False),
        ("a>=1,<2", False),
        ("a", False),
        ("git+https://github.com/o/a@v1.2.3#egg=a", False),
        ("git+https://github.com/o/a@0123456#egg=a", False),
        ("git+https://github.com/o/a#egg=a", False),
        ("git+https://github.com/o/a.git@0123456789abcdef0123456789abcdef01234567#egg=a", True),
        ("a @ git+ssh://git@github.com/o/a@0123456789abcdef0123456789abcdef01234567", True),
        ("https://example.com/a-1.0-py3-none-any.whl", True),
    ],
)
def test_pinned(line: str, pinned: bool) -> None:
    (parsed,) = parse(line + "\n").lines
    assert parsed.error is None, parsed.error
    assert parsed.is_pinned is pinned


def test_names_are_pep503_normalised() -> None:
    names = [line.name for line in parse("Pillow==1\nruamel_yaml==1\nruamel.yaml==1\n").lines]
    assert names == ["pillow", "ruamel-yaml", "ruamel-yaml"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("numpy = 1.26\n", "Expected"),
        ("--bogus\n", "not an option"),
        ("-r\n", "needs a value"),
        ("git+https://github.com/o/a@main\n", "#egg="),
        ("x" * 100_000 + "\n", "characters long"),
    ],
)
def test_invalid_lines_have_a_reason(text: str, reason: str) -> None:
    (line,) = parse(text).lines
    assert line.error is not None and reason in line.error


def test_enormous_line_is_quick() -> None:
    start = time.perf_counter()
    parse("a" + ">=1," * 200_000 + "\n")
    assert time.perf_counter() - start < 2


def test_binary_and_non_utf8_files_are_file_errors() -> None:
    assert parse(b"numpy==1\x00\x01\n").error is not None
    assert parse(b"numpy==1.0 \xff\xfe\n").error is not None


def test_includes_cycles_and_boundaries(tmp_path: Path) -> None:
    folder = tmp_path / "pkg" / "models" / "m"
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text(
        "-r a.txt\n-r ../../../outside.txt\n-r missing.txt\n-r sub\n"
    )
    (folder / "a.txt").write_text("einops==0.3.2\n-r b.txt\n")
    (folder / "b.txt").write_text("-r a.txt\ntimm==1.0\n")
    (folder / "sub").mkdir()
    (tmp_path / "outside.txt").write_text("x==1\n")
    result = rf.load_set(SourceFile(folder / "requirements.txt"), tmp_path / "pkg")
    assert sorted(line.name or "" for line in result.requirements()) == ["einops", "timm"]
    messages = sorted(p.message for p in result.problems)
    assert any("cycle" in m and "a.txt -> b.txt -> a.txt" in m for m in messages), messages
    assert any("outside" in m for m in messages)
    assert any("no such file" in m for m in messages)
    assert any("directory" in m for m in messages)


def test_parse_is_memoised() -> None:
    source = SourceFile(Path("/virtual/requirements.txt"), b"a==1\n")
    assert rf.parse_source(source) is rf.parse_source(source)


def test_intersections() -> None:
    s = SpecifierSet
    assert rf.intersects(s("==2.4.1"), s(">=2.4,<2.9.0"))
    assert not rf.intersects(s("==4.45.0"), s("~=4.56.2"))
    assert rf.intersects(s(">=0.21.0,<0.26"), s(">0.21.0,<0.26"))
    assert not rf.intersects(s(">=2.6"), s("<2.5"))
    assert not rf.intersects(s(">1.0"), s("<=1.0"))
    assert rf.intersects(s("~=0.62.1"), s(">=0.61.0"))
    assert rf.intersects(s("<0.9"), s("<=0.11.1"))
    assert not rf.intersects(s("==1.*"), s(">=2"))
    assert rf.intersects(s(""), s("==1"))


# ---------------------------------------------------------------------------------------------
# Properties.

_names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}([._-][A-Za-z0-9]{1,4})?", fullmatch=True)
_versions = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
_ops = st.sampled_from(["==", ">=", "<=", ">", "<", "~=", "!="])
_markers = st.sampled_from(
    [
        "",
        " ; python_version < '3.12'",
        "; sys_platform == 'linux'",
        " ; sys_platform != 'win32' and python_version >= \"3.10\"",
    ]
)
_comments = st.sampled_from(["", "  # why", " # noqa: QAI301"])


@st.composite
def requirement_lines(draw: st.DrawFn) -> tuple[str, str, str, str, str]:
    name = draw(_names)
    op = draw(_ops)
    version = draw(_versions)
    if op == "~=" and "." not in version:
        version += ".0"
    return (
        name,
        f"{op}{version}",
        draw(_markers),
        draw(_comments),
        draw(st.sampled_from(["\n", "\r\n"])),
    )


@given(st.text(max_size=300))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parser_never_raises(text: str) -> None:
    parsed = parse(text)
    for line in parsed.lines:
        assert line.error is not None or line.requirement is not None or line.option is not None
        assert 1 <= line.row <= line.end_row


@given(requirement_lines())
def test_parser_recovers_what_was_written(parts: tuple[str, str, str, str, str]) -> None:
    name, spec, marker, comment, newline = parts
    (line,) = parse(f"{name}{spec}{marker}{comment}{newline}").lines
    assert line.error is None
    assert line.name == rf.normalize(name)
    assert line.specifier == SpecifierSet(spec)
    assert (line.marker is not None) == bool(marker.strip())
    assert line.comment == comment.strip()


@given(requirement_lines(), _versions)
def test_specifier_rewrite_keeps_the_rest_of_the_line(
    parts: tuple[str, str, str, str, str], pin: str
) -> None:
    name, spec, marker, comment, newline = parts
    text = f"{name}{spec}{marker}{comment}{newline}"
    (line,) = parse(text).lines
    span = rf.specifier_span(line)
    assert span is not None
    physical = line.physical
    rewritten = physical[: span[0]] + f"=={pin}" + physical[span[1] :] + newline
    (again,) = parse(rewritten).lines
    assert again.pinned_version == pin and again.name == line.name
    assert str(again.marker) == str(line.marker) and again.comment == line.comment
    assert rewritten.endswith(newline) and rewritten.startswith(name)


@given(_versions, st.lists(st.tuples(_ops, _versions), min_size=1, max_size=3))
def test_pin_intersection_is_membership(pin: str, specs: list[tuple[str, str]]) -> None:
    spec_set = SpecifierSet(
        ",".join(f"{op}{v}" + (".0" if op == "~=" and "." not in v else "") for op, v in specs)
    )
    expected = spec_set.contains(Version(pin), prereleases=True)
    assert rf.intersects(SpecifierSet(f"=={pin}"), spec_set) is expected
    assert rf.intersects(spec_set, SpecifierSet(f"=={pin}")) is expected


@given(
    st.lists(st.tuples(_ops, _versions), min_size=1, max_size=2),
    st.lists(st.tuples(_ops, _versions), min_size=1, max_size=2),
)
def test_disjoint_ranges_have_no_common_version(
    a: list[tuple[str, str]], b: list[tuple[str, str]]
) -> None:
    def spec(items: list[tuple[str, str]]) -> SpecifierSet:
        return SpecifierSet(
            ",".join(f"{op}{v}" + (".0" if op == "~=" and "." not in v else "") for op, v in items)
        )

    left, right = spec(a), spec(b)
    if not rf.intersects(left, right):
        # No version from a dense sample satisfies both (the search never misses one).
        for major in range(0, 32):
            for minor in range(0, 32, 3):
                version = f"{major}.{minor}"
                assert not (
                    left.contains(version, prereleases=True)
                    and right.contains(version, prereleases=True)
                ), version


# ---------------------------------------------------------------------------------------------
# The rules on synthetic trees.


def lint(
    tmp_path: Path,
    files: dict[str, str | None],
    select: tuple[str, ...] = ("QAI3",),
    **kwargs: object,
) -> list:
    tree = build_tree(tmp_path, files, **kwargs)  # type: ignore[arg-type]
    return lint_paths([tree.model()], select=select)


def test_noqa_on_a_requirements_line(tmp_path: Path) -> None:
    findings = lint(
        tmp_path,
        {"requirements.txt": "scipy  # noqa: QAI301 any version\neinops\n"},
        select=("QAI301", "QAI001"),
    )
    assert codes(findings) == [("QAI301", "requirements.txt", 2)]


def test_unused_noqa_on_a_requirements_line(tmp_path: Path) -> None:
    findings = lint(
        tmp_path,
        {"requirements.txt": "einops==0.3.2  # noqa: QAI301\n"},
        select=("QAI301", "QAI001"),
    )
    assert codes(findings) == [("QAI001", "requirements.txt", 1)]


def test_message_and_fix_never_depend_on_what_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two machines with different packages installed must agree (baselines would churn).
    import importlib.metadata

    seen = []
    for n, version in enumerate(("7.2.2", "5.0.0", None)):

        def fake(name: str, version: str | None = version) -> str:
            if version is None:
                raise importlib.metadata.PackageNotFoundError(name)
            return version

        monkeypatch.setattr(importlib.metadata, "version", fake)
        (finding,) = lint(
            tmp_path / str(n),
            {"requirements.txt": "psutil; sys_platform != 'win32'\n"},
            select=("QAI301",),
        )
        seen.append((finding.message, finding.fix))
    assert seen[0] == seen[1] == seen[2]
    message, fix = seen[0]
    assert fix is None
    assert '`psutil==<version>; sys_platform != "win32"`' in message


def test_ranges_are_qai307_warnings_on_by_default(tmp_path: Path) -> None:
    files = {"requirements.txt": "loguru>=0.7.3\nyacs\n"}
    findings = lint(tmp_path / "a", files, select=("QAI3",))
    assert codes(findings) == [("QAI307", "requirements.txt", 1), ("QAI301", "requirements.txt", 2)]
    assert [d.severity.value for d in findings] == ["warning", "error"]
    default = [d for d in lint(tmp_path / "b", files, select=None) if d.code.startswith("QAI3")]
    assert codes(default) == codes(findings)


def test_a_range_admitting_one_version_is_a_pin(tmp_path: Path) -> None:
    # yolox's fix in 0.53.0: `loguru>=0.7.3` became `loguru>=0.7.3,<=0.7.3`.
    files = {"requirements.txt": "loguru>=0.7.3,<=0.7.3\nnumba>=0.61,<=0.62\n"}
    assert codes(lint(tmp_path, files, select=("QAI3",))) == [("QAI307", "requirements.txt", 2)]


def test_compatible_release_restating_global_is_a_range(tmp_path: Path) -> None:
    # Upstream pinned every `~=` line, global's own included, in 0.53.0; bounded ranges that
    # restate global's stay.
    package = {"global_requirements.txt": "transformers~=4.56.2\nscipy>=1.8.1,<=1.17.1\n"}
    files = {"requirements.txt": "transformers~=4.56.2\nscipy>=1.8.1,<=1.17.1\n"}
    tree = build_tree(tmp_path, files, package_files=package)
    assert codes(lint_paths([tree.model()], select=["QAI307"])) == [
        ("QAI307", "requirements.txt", 1)
    ]


def test_every_requirements_file_of_a_model_is_read(tmp_path: Path) -> None:
    gpu = (
        "psutil; sys_platform != 'win32'\n"
        "https://example.com/aimet_onnx-2.26.0-cp310-cp310-linux_x86_64.whl -f "
        "https://download.pytorch.org/whl/torch_stable.html; sys_platform == 'linux'\n"
        "numpy==1.26.4\nnumpy==1.26.4\n"
        "lerobot @ https://example.com/lerobot-0.4.1-py3-none-any.whl; python_version < '3.13'\n"
    )
    files = {"requirements.txt": "numpy==1.26.4\n", "requirements-gpu.txt": gpu}
    found = codes(lint(tmp_path, files, select=("QAI3",)))
    assert found == [
        ("QAI301", "requirements-gpu.txt", 1),
        ("QAI304", "requirements-gpu.txt", 2),
        ("QAI305", "requirements-gpu.txt", 4),
    ]


def test_a_marker_after_an_option_is_swallowed() -> None:
    (line,) = parse(
        "https://x.org/a-1.0-py3-none-any.whl -f https://x.org/simple; sys_platform == 'linux'\n"
    ).lines
    assert line.requirement is not None and line.marker is None
    assert line.swallowed_marker == "sys_platform == 'linux'" and line.trailing_option == "-f"
    (line,) = parse("torch==2.4.1 -f https://x.org/simple\n").lines
    assert line.text == "torch==2.4.1" and line.swallowed_marker is None


def test_conflict_fix_edits_code_gen_keeping_comments_and_crlf(tmp_path: Path) -> None:
    code_gen = (
        "# export settings\r\nis_aimet: true  # aimet\r\n"
        "global_requirements_incompatible: false\r\n"
    )
    tree = build_tree(tmp_path, {"requirements.txt": "torch==2.0.0\n", "code-gen.yaml": code_gen})
    (finding,) = lint_paths([tree.model()], select=["QAI302"])
    assert finding.fix is not None and finding.fix.path == tree.model() / "code-gen.yaml"
    fix_paths([tree.model()], select=["QAI302"], unsafe=True)
    assert (tree.model() / "code-gen.yaml").read_bytes() == code_gen.replace(
        "incompatible: false", "incompatible: true"
    ).encode()
    assert lint_paths([tree.model()], select=["QAI302", "QAI303", "QAI702"]) == []


def test_conflict_fix_appends_to_a_file_without_final_newline(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {"requirements.txt": "numpy==1.0\ntorch==2.0\n", "code-gen.yaml": "is_aimet: true"},
    )
    assert len(lint_paths([tree.model()], select=["QAI302"])) == 2
    outcome = fix_paths([tree.model()], select=["QAI302"], unsafe=True)
    assert (tree.model() / "code-gen.yaml").read_text() == f"is_aimet: true\n{FLAG}: true\n"
    assert outcome.fixed_count >= 1
    assert fix_paths([tree.model()], select=["QAI3"], unsafe=True).changed == {}


def test_conflicts_evaluate_markers(tmp_path: Path) -> None:
    glob = {
        "global_requirements.txt": (
            "aimet-onnx==2.14.0; sys_platform == 'linux' and python_version == \"3.10\"\n"
        )
    }
    same = lint(
        tmp_path / "a",
        {
            "requirements.txt": "aimet-onnx==2.20.0; sys_platform == "
            "'linux' and python_version == \"3.10\"\n"
        },
        package_files=glob,
        other_models=rules.PUBLISHES_CODE_GEN,
    )
    assert codes(same, "QAI302") == [("QAI302", "requirements.txt", 1)]
    partly = lint(
        tmp_path / "b",
        {"requirements.txt": "aimet-onnx==2.20.0\n"},
        package_files=glob,
        other_models=rules.PUBLISHES_CODE_GEN,
    )
    (finding,) = [d for d in partly if d.code == "QAI302"]
    assert "on Python 3.10 on linux" in finding.message
    never = lint(
        tmp_path / "c",
        {"requirements.txt": "aimet-onnx==2.20.0; python_version >= '3.12'\n"},
        package_files=glob,
    )
    assert codes(never, "QAI302") == []


def test_manifest_layout_reads_the_flag_from_scorecard_config(tmp_path: Path) -> None:
    files = {"requirements.txt": "torch==2.0.0\n"}
    config = "qai_hub_models/scorecard/models/example/scorecard-config.yaml"
    findings = lint(tmp_path, files, layout=Layout.MANIFEST)
    (finding,) = [d for d in findings if d.code == "QAI302"]
    assert "scorecard-config.yaml" in finding.message and finding.fix is None
    (tmp_path / config).parent.mkdir(parents=True)
    (tmp_path / config).write_text(f"{FLAG}: true\ntest_split: llm\n")
    assert codes(lint_paths([tmp_path / "qai_hub_models/models/example"], select=["QAI3"])) == []


def test_stale_flag_in_manifest_layout_points_at_scorecard_config(tmp_path: Path) -> None:
    package_files = {"scorecard/models/example/scorecard-config.yaml": f"{FLAG}: true\n"}
    findings = lint(
        tmp_path,
        {"requirements.txt": "numpy>=1.26,<3\n"},
        layout=Layout.MANIFEST,
        package_files=package_files,
    )
    (finding,) = findings
    assert finding.code == "QAI303" and finding.path.name == "scorecard-config.yaml"
    assert finding.fix is None


@pytest.mark.parametrize(
    "setting",
    [
        "pre_pip_install_commands:\n- pip install torch\n",
        # 0.59's manifests still used the code-gen names (8 stale-flag warnings there otherwise).
        "pip_pre_build_reqs: mmpose==1.2.0 --no-deps\n",
        "pip_install_flags: git+https://github.com/example/x@34bbbfd --use-pep517\n",
    ],
)
def test_flag_required_by_pip_commands_is_not_stale(tmp_path: Path, setting: str) -> None:
    from qaihm_lint.testing import MANIFEST_YAML

    package_files = {"scorecard/models/example/scorecard-config.yaml": f"{FLAG}: true\n"}
    files = {"requirements.txt": "numpy>=1.26,<3\n", "manifest.yaml": MANIFEST_YAML + setting}
    assert lint(tmp_path, files, layout=Layout.MANIFEST, package_files=package_files) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"numpy==1\x00\x00binary", "binary"),
        (b"numpy==1.0\n\xff\xfe\n", "not valid UTF-8"),
    ],
)
def test_unreadable_requirements(tmp_path: Path, data: bytes, expected: str) -> None:
    tree = build_tree(tmp_path)
    (tree.model() / "requirements.txt").write_bytes(data)
    (finding,) = lint_paths([tree.model()], select=["QAI3"])
    assert finding.code == "QAI304" and expected in finding.message


def test_requirements_directory(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    (tree.model() / "requirements.txt").mkdir()
    (finding,) = lint_paths([tree.model()], select=["QAI3"])
    assert finding.code == "QAI304" and "directory" in finding.message


def test_include_cycle_does_not_hang(tmp_path: Path) -> None:
    files = {"requirements.txt": "-r a.txt\neinops==0.3.2\n", "a.txt": "-r requirements.txt\n"}
    findings = lint(tmp_path, files)
    assert codes(findings) == [("QAI304", "a.txt", 1)]


def test_duplicate_across_an_include(tmp_path: Path) -> None:
    files = {"requirements.txt": "-r extra.txt\neinops==0.3.2\n", "extra.txt": "einops==0.3.2\n"}
    (finding,) = lint(tmp_path, files)
    assert finding.code == "QAI305" and finding.path.name == "requirements.txt"
    assert "extra.txt line 1" in finding.message


def test_duplicate_fix_keeps_a_differently_commented_line(tmp_path: Path) -> None:
    (finding,) = lint(tmp_path, {"requirements.txt": "a==1\na==1  # needed by b\n"})
    assert finding.code == "QAI305" and finding.fix is None


def test_cross_model_conflict_is_reported_on_both(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {"requirements.txt": "fvcore==0.1.5\n"},
        other_models={
            "second": {"requirements.txt": "einops==0.3.2\nfvcore==0.1.4\n"},
            "third": {"requirements.txt": "fvcore>=0.1\n"},
            **rules.PUBLISHES_CODE_GEN,
        },
    )
    findings = lint_paths([tree.package], select=["QAI306"])
    assert sorted((d.model_id, d.start.row) for d in findings) == [("example", 1), ("second", 2)]
    by_model = {d.model_id: d.message for d in findings}
    assert "second" in by_model["example"] and "fvcore==0.1.4" in by_model["example"]
    assert "example" in by_model["second"] and "fvcore==0.1.5" in by_model["second"]
    # One folder (as pre-commit passes it): the other models are still read, only it reported.
    only = lint_paths([tree.model("second")], select=["QAI306"])
    assert [(d.model_id, d.start.row) for d in only] == [("second", 2)]


def test_cross_model_conflict_is_suppressible(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {"requirements.txt": "fvcore==0.1.5  # noqa: QAI306\n"},
        other_models={
            "second": {"requirements.txt": "fvcore==0.1.4\n"},
            **rules.PUBLISHES_CODE_GEN,
        },
    )
    findings = lint_paths([tree.package], select=["QAI306"])
    assert [d.model_id for d in findings] == ["second"]


def test_unpublished_flags_silence_the_environment_rules_until_one_code_gen_appears(
    tmp_path: Path,
) -> None:
    # Upstream's public tree ships no code-gen.yaml: whether a model opted out is unknown.
    tree = build_tree(
        tmp_path,
        {"requirements.txt": "fvcore==0.1.5\n"},
        other_models={
            "second": {"requirements.txt": "fvcore==0.1.4\n"},
            "third": {"requirements.txt": "torch==2.0.0\n"},
        },
    )
    assert codes(lint_paths([tree.package], select=["QAI302", "QAI306"])) == []
    # One published code-gen.yaml anywhere: a missing one now means "no flag".
    tree.write("models/third/code-gen.yaml", "supported_precisions:\n- float\n")
    found = lint_paths([tree.package], select=["QAI302", "QAI306"])
    assert sorted((d.code, d.model_id) for d in found) == [
        ("QAI302", "third"),
        ("QAI306", "example"),
        ("QAI306", "second"),
    ]


def test_models_conflicting_with_global_are_left_to_qai302(tmp_path: Path) -> None:
    tree = build_tree(
        tmp_path,
        {"requirements.txt": "torch==2.0.0\nfvcore==0.1.5\n"},
        other_models={"second": {"requirements.txt": "fvcore==0.1.4\n"}},
    )
    assert codes(lint_paths([tree.package], select=["QAI306"])) == []


# ---------------------------------------------------------------------------------------------
# The YAML line fixers, as properties.

_keys = st.sampled_from(["is_aimet", "check_trace", "skip_export", "inference_metrics"])
_values = st.sampled_from(["true", "false", "psnr", "'quoted # not a comment'", "3"])
_flag_values = st.sampled_from([None, "false", "False", "no", "true", "off"])


@given(
    st.lists(st.tuples(_keys, _values, _comments), max_size=4, unique_by=lambda t: t[0]),
    _flag_values,
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_setting_the_flag_changes_only_its_line(
    entries: list[tuple[str, str, str]], flag: str | None, newline: str, final_newline: bool
) -> None:
    import yaml

    from qaihm_lint import yamlfile
    from qaihm_lint.fixers.edits import apply_edits
    from qaihm_lint.fixers.text_fixes import remove_top_level_key, set_top_level_true

    lines = ["# code-gen settings"] + [f"{k}: {v}{c}" for k, v, c in entries]
    if flag is not None:
        lines.insert(1, f"{FLAG}: {flag}  # why")
    text = newline.join(lines) + (newline if final_newline else "")
    source = SourceFile(Path("/virtual/code-gen.yaml"), text.encode())
    document = yamlfile.load(source)
    edit = set_top_level_true(source, document, FLAG)
    assert edit is not None
    fixed = apply_edits(text, source, [edit])
    data = yaml.safe_load(fixed)
    assert data[FLAG] is True
    assert {k: v for k, v in data.items() if k != FLAG} == {
        k: v for k, v in (document.data or {}).items() if k != FLAG
    }
    assert "# code-gen settings" in fixed and fixed.count("\r\n") in (0, fixed.count("\n"))
    # And removing it again leaves the other lines byte for byte.
    again = SourceFile(Path("/virtual/code-gen.yaml"), fixed.encode())
    removal = remove_top_level_key(again, yamlfile.load(again), FLAG)
    assert removal is not None
    removed = apply_edits(fixed, again, [removal])
    assert FLAG not in removed
    assert [ln for ln in removed.splitlines() if ln] == [ln for ln in lines if FLAG not in ln]


def test_creating_code_gen_yaml() -> None:
    from qaihm_lint.fixers.text_fixes import set_top_level_true

    edit = set_top_level_true(None, None, FLAG)
    assert edit is not None and edit.content == f"{FLAG}: true\n"


def _shared_tree(tmp_path: Path, user_flag: bool, only: str | None = None) -> list:
    package = {
        "global_requirements.txt": "shapely==2.1.2\n",
        "models/templates/detection/evaluator.py": "X = 1\n",
        "models/templates/detection/requirements.txt": "shapely==2.0.6\npycocotools\n",
        "models/templates/llm/grader/grade.py": "X = 1\n",
        "models/templates/llm/grader/requirements.txt": "torch\n",
        "scorecard/models/user/scorecard-config.yaml": f"{rules.FLAG}: {user_flag}\n",
    }
    uses = "from qai_hub_models.models.templates.detection.evaluator import X\n"
    tree = build_tree(
        tmp_path,
        {},
        package_files=package,
        layout=Layout.MANIFEST,
        other_models={"user": {"app.py": uses}},
    )
    paths = [tree.package / only] if only else [tree.package]
    return [d for d in lint_paths(paths, select=["QAI3"]) if "templates" in str(d.path)]


def test_shared_requirements_are_checked_against_global(tmp_path: Path) -> None:
    # templates/detection pinned shapely==2.0.6 against global's 2.1.2 until 0.64.0.
    found = _shared_tree(tmp_path / "a", user_flag=False)
    assert [(d.code, d.model_id, d.start.row) for d in found] == [
        ("QAI302", "templates/detection", 1),
        ("QAI301", "templates/detection", 2),
    ]
    assert "(user)" in found[0].message
    # Every model that imports it has its own environment: nothing conflicts (gemma4's case).
    found = _shared_tree(tmp_path / "b", user_flag=True)
    assert [d.code for d in found] == ["QAI301"]
    # Pre-commit passes the changed file: the shared folder is checked.
    only = "models/templates/detection/requirements.txt"
    found = _shared_tree(tmp_path / "c", user_flag=False, only=only)
    assert [d.code for d in found] == ["QAI302", "QAI301"]
