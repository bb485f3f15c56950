"""Property tests of the parsing layers: whatever the bytes, a value or a SourceError, and every
position we hand out is 1-based and round-trips."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from qaihm_lint import suppressions, yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.fixers.edits import apply_edits, minimal_edit
from qaihm_lint.rules import all_rules
from qaihm_lint.sources import SourceError, SourceFile
from tests.reliability._support import budget

# Text that exercises every line terminator Python knows, and a few it does not.
LINE_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["\n", "\r", "\r\n", "\t", " ", "#", "é", "\u2028", "\x0c", "\U0001f600"]),
        st.text(max_size=8),
    ),
    max_size=40,
).map(lambda parts: "".join(parts).replace("\x00", ""))
# NUL marks a binary file (a SourceError by design): text strategies leave it out.
TEXT = st.text(max_size=300).map(lambda s: s.replace("\x00", ""))


def _source(text: str, name: str = "model.py") -> SourceFile:
    return SourceFile(Path("/nonexistent") / name, text.encode("utf-8"))


@budget(300)
@given(LINE_TEXT)
def test_offset_location_round_trip(text: str) -> None:
    source = _source(text)
    lines = source.lines
    assert "\n".join(lines) == text.replace("\r\n", "\n").replace("\r", "\n")
    for offset in range(len(text) + 1):
        location = source.location(offset)
        assert location.row >= 1 and location.column >= 1
        assert location.row <= len(lines)
        assert source.offset(location) == offset
    for row, line in enumerate(lines, start=1):
        for column in range(1, len(line) + 2):
            location = Location(row, column)
            assert source.location(source.offset(location)) == location
            assert source.line(row) == line


@budget(200)
@given(LINE_TEXT, st.integers(-3, 500), st.integers(-3, 500))
def test_offset_is_clamped(text: str, row: int, column: int) -> None:
    source = _source(text)
    offset = source.offset(Location(row, column))
    assert 0 <= offset <= len(text)


@budget(300)
@given(TEXT.map(lambda s: s[:60].replace("\n", "").replace("\r", "")))
def test_char_column_counts_characters(line: str) -> None:
    source = _source(f"x = 1\n{line}\n")
    encoded = line.encode("utf-8")
    for index in range(len(line) + 1):
        assert source.char_column(2, len(line[:index].encode("utf-8"))) == index + 1
    # A byte column inside a multi-byte character never points past it.
    for byte in range(len(encoded) + 1):
        assert 1 <= source.char_column(2, byte) <= len(line) + 1


@budget(150)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_char_column_matches_ast(value: str) -> None:
    """ast reports UTF-8 byte offsets; our column of the name after the string is in chars."""
    text = f"x = ({value!r}, name)\n"
    source = _source(text)
    import ast

    node = ast.parse(text).body[0].value.elts[1]  # type: ignore[attr-defined]
    start, end = source.node_span(node)
    assert source.line(1)[start.column - 1 : end.column - 1] == "name"


@budget(300)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_source_error(data: bytes) -> None:
    source = SourceFile(Path("/nonexistent/model.py"), data)
    for attribute in ("text", "lines", "tree", "is_generated", "digest", "has_bom"):
        try:
            getattr(source, attribute)
        except SourceError as error:
            assert error.location.row >= 1 and error.location.column >= 1
            assert str(error)


@budget(300)
@given(TEXT)
def test_syntax_error_location_inside_the_file(text: str) -> None:
    source = _source(text)
    try:
        source.tree  # noqa: B018
    except SourceError as error:
        location = error.location
        assert location.row >= 1 and location.column >= 1
        assert location.row <= len(source.lines) + 1, (location, str(error))
        if location.row <= len(source.lines):
            assert location.column <= len(source.line(location.row)) + 2, (location, str(error))


# ---------------------------------------------------------------------------------------------
# Suppression directives

CODES = st.sampled_from(["QAI101", "QAI301", "QAI9999", "F401", "E501", "qai201", "QAI", "X1"])
DIRECTIVE = st.builds(
    lambda lead, codes, sep, tail: lead + ((": " + sep.join(codes)) if codes else "") + tail,
    st.sampled_from(["# noqa", "#noqa", "# NOQA", "# qaihm-lint: noqa", "#  noqa", "# noqa:"]),
    st.lists(CODES, max_size=4),
    st.sampled_from([", ", ",", " ", " ,  "]),
    st.sampled_from(["", "  # reason", " trailing words", " # noqa: QAI301", "\t"]),
)
NOQA_TEXT = st.lists(
    st.one_of(
        st.builds(
            lambda code, d: f"{code}  {d}",
            st.sampled_from(["x = 1", "torch>=1", "id: x", "'''", "s = '#'", ""]),
            DIRECTIVE,
        ),
        DIRECTIVE,
        TEXT.map(lambda s: s[:40]),
    ),
    max_size=8,
).map("\n".join)


@budget(300)
@given(NOQA_TEXT, st.sampled_from(["model.py", "requirements.txt", "info.yaml"]))
def test_suppressions_parse_and_fix_round_trip(text: str, name: str) -> None:
    source = _source(text, name)
    found = suppressions.parse(source)
    lines = source.lines
    for directive in found.directives():
        assert 1 <= directive.row <= len(lines)
        line = lines[directive.row - 1]
        assert 0 <= directive.start <= directive.end <= len(line)
        assert line[directive.start : directive.end].lstrip().startswith("#")
        for code, start, end in directive.codes or ():
            assert line[start:end].upper() == code
    # Everything enabled, nothing used: every QAI code of ours is unused. Applying each removal
    # fix must leave a file where that directive no longer names those codes.
    known = set(all_rules())
    findings = suppressions.unused_directive_findings(source, found, known, "example")
    for finding in findings:
        assert finding.start.row >= 1 and finding.start.column >= 1
        if finding.fix is None:
            continue
        fixed_text = apply_edits(source.text, source, finding.fix.edits)
        fixed = _source(fixed_text, name)
        remaining = suppressions.unused_directive_findings(
            fixed, suppressions.parse(fixed), known, "example"
        )
        same_line = [f for f in findings if f.fix == finding.fix]
        gone = {f.start.row for f in same_line}
        # The directive's unused codes are gone from its row; other rows are unchanged.
        assert len(
            [r for r in remaining if r.start.row not in gone or r.fix != finding.fix]
        ) <= len(findings)
        assert len(fixed.lines) in (len(lines), len(lines) - 1)


# ---------------------------------------------------------------------------------------------
# YAML

YAML_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


def _load(data: bytes) -> None:
    source = SourceFile(Path("/nonexistent/info.yaml"), data)
    try:
        document = yamlfile.load(source)
    except SourceError as error:
        assert error.location.row >= 1 and error.location.column >= 1
        # Cached: the second call raises the same error, without re-parsing.
        try:
            yamlfile.load(source)
        except SourceError as again:
            assert str(again) == str(error)
        return
    for location in (
        *document.key_locations.values(),
        *document.value_locations.values(),
        *document.value_ends.values(),
    ):
        assert location.row >= 1 and location.column >= 1
    for key in document.key_locations:
        start, end = document.value_span(key)
        assert start <= end or start.row == end.row


@budget(300)
@given(st.binary(max_size=300))
def test_yaml_arbitrary_bytes(data: bytes) -> None:
    _load(data)


@budget(300)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"# \n\t,?%@`")), max_size=120))
def test_yaml_arbitrary_syntax(text: str) -> None:
    _load(text.encode())


@budget(200)
@given(YAML_VALUES, st.randoms(use_true_random=False), st.integers(0, 3))
def test_yaml_dumped_and_mutated(value: object, rng, rounds: int) -> None:  # type: ignore[no-untyped-def]
    from tests.reliability._support import mutate

    text = yaml.safe_dump(value, allow_unicode=True)
    _load(mutate(text, rng, rounds).encode("utf-8", "surrogatepass"))


@budget(12)
@given(st.sampled_from([1, 50, 199, 200, 201, 1_000, 300_000]), st.sampled_from(["[", "{a: "]))
def test_yaml_deep_nesting_is_an_error_not_a_crash(depth: int, opener: str) -> None:
    _load((opener * depth).encode())
    _load(("[" * depth + "]" * depth).encode())
    _load(("a:\n" + "".join(" " * (i + 1) + "b:\n" for i in range(min(depth, 300)))).encode())


# ---------------------------------------------------------------------------------------------
# Edits


@budget(300)
@given(LINE_TEXT, LINE_TEXT)
def test_minimal_edit_reproduces_the_new_text(old: str, new: str) -> None:
    source = _source(old)
    edit = minimal_edit(source, new)
    if edit is None:
        assert old == new
        return
    assume(True)
    assert apply_edits(old, source, [edit]) == new
