"""Suppression comments: which findings they silence, and which of ours silence nothing (QAI001).

Three forms, in Python, requirements.txt and YAML files alike (all three use ``#`` comments):

- ``# qaihm-lint: ignore[QAI502]`` silences codes on its line. ruff does not read it as a noqa
  directive, so a ruff that selects ``RUF100`` (as upstream's does) never deletes it: the form
  ``--add-noqa`` writes.
- ``# noqa: QAI502`` (flake8's form) does the same, but ruff reads it too: with ``RUF100`` and
  without ``lint.external = ["QAI"]`` ruff reports it as unused and ``ruff --fix`` deletes it.
- ``# qaihm-lint: noqa: QAI405`` anywhere in a file silences the code for the whole file.

Codes of other tools (``# noqa: F401``) are left alone: only QAI codes are ours to judge, and a
bare ``# noqa`` may be there for another linter, so it is never reported unused.
"""

from __future__ import annotations

import re
import tokenize
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from qaihm_lint import rule_selectors
from qaihm_lint.catalogue import CATALOGUE
from qaihm_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from qaihm_lint.rules.meta import UnusedNoqa
from qaihm_lint.sources import SourceError, SourceFile

_CODE = r"[A-Z]+[0-9]+"
_LINE_NOQA = re.compile(
    rf"#\s*noqa(?::[\s]*(?P<codes>{_CODE}(?:(?:\s*,\s*|\s+){_CODE})*))?", re.IGNORECASE
)
_FILE_NOQA = re.compile(
    rf"#\s*qaihm-lint:\s*noqa(?::\s*(?P<codes>{_CODE}(?:(?:\s*,\s*|\s+){_CODE})*))?",
    re.IGNORECASE,
)
# ``ignore[...]`` holds whatever is between the brackets: a code mistyped there is reported, never
# read as a bare ``ignore`` that would silence everything.
_LINE_IGNORE = re.compile(r"#\s*qaihm-lint:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_CODE_RE = re.compile(_CODE)
_WORD_RE = re.compile(r"[^\s,]+")
OUR_PREFIX = "QAI"
IGNORE_COMMENT = "# qaihm-lint: ignore"


@dataclass
class Directive:
    row: int
    # Character offsets within the line of the directive's own text (from "#" to its last code).
    start: int
    end: int
    codes: tuple[tuple[str, int, int], ...] | None  # (code, start, end) in the line; None = all
    file_level: bool
    used: set[str] = field(default_factory=set)
    used_bare: bool = False

    def covers(self, code: str) -> bool:
        return self.codes is None or any(c == code for c, _, _ in self.codes)


@dataclass
class FileSuppressions:
    by_row: dict[int, list[Directive]]
    file_level: list[Directive]

    def suppress(self, diagnostic: Diagnostic) -> bool:
        for directive in (*self.by_row.get(diagnostic.start.row, ()), *self.file_level):
            if directive.covers(diagnostic.code):
                if directive.codes is None:
                    directive.used_bare = True
                else:
                    directive.used.add(diagnostic.code)
                return True
        return False

    def directives(self) -> Iterable[Directive]:
        seen: set[int] = set()  # a directive is listed on every row of its logical line
        for row in sorted(self.by_row):
            for directive in self.by_row[row]:
                if id(directive) not in seen:
                    seen.add(id(directive))
                    yield directive
        yield from self.file_level


def python_tokens(source: SourceFile) -> list[tokenize.TokenInfo] | None:
    """The file's tokens, or None when it does not tokenize. Fed the file's own lines (a lone
    \\r ends one too), so that rows and columns are the ones findings use."""
    lines = iter([line + "\n" for line in source.lines])
    try:
        return list(tokenize.generate_tokens(lambda: next(lines, "")))
    except (tokenize.TokenError, SyntaxError):
        return None


_NOT_CODE = frozenset(
    (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
)


def logical_lines(tokens: Iterable[tokenize.TokenInfo]) -> dict[int, tuple[int, int]]:
    """Each row of a statement that spans rows -> (first row, last row) of that statement.

    A directive anywhere on a statement's rows covers the whole statement: when a formatter
    wraps a long call (ruff format does not count our comment as a pragma), the trailing comment
    moves to the statement's last row, away from the row the finding starts on."""
    spans: dict[int, tuple[int, int]] = {}
    start: int | None = None
    for token in tokens:
        if token.type == tokenize.NEWLINE:
            if start is not None and token.start[0] > start:
                for row in range(start, token.start[0] + 1):
                    spans[row] = (start, token.start[0])
            start = None
        elif token.type not in _NOT_CODE and start is None:
            start = token.start[0]
    return spans


def _comments(
    source: SourceFile, tokens: list[tokenize.TokenInfo] | None
) -> Iterable[tuple[int, int, str]]:
    """(row, column offset, text) of each comment that might hold a directive."""
    if tokens is not None:
        for token in tokens:
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.start[1], token.string
        return
    # Requirements and YAML (and Python the tokenizer rejects): a '#' at a line start or after
    # white space begins a comment.
    for row, line in enumerate(source.lines, start=1):
        index = line.find("#")
        while index > 0 and not line[index - 1].isspace():
            index = line.find("#", index + 1)
        if index != -1:
            yield row, index, line[index:]


def parse(source: SourceFile) -> FileSuppressions:
    by_row: dict[int, list[Directive]] = {}
    file_level: list[Directive] = []
    try:
        text = source.text
        if "noqa" not in text and "NOQA" not in text and "qaihm-lint" not in text.lower():
            return FileSuppressions(by_row, file_level)
    except SourceError:
        return FileSuppressions(by_row, file_level)
    tokens = python_tokens(source) if source.path.suffix == ".py" else None
    spans = logical_lines(tokens) if tokens is not None else {}
    for row, column, comment in _comments(source, tokens):
        match = _FILE_NOQA.search(comment)
        if match is not None:
            file_level.append(_directive(row, column, match, _CODE_RE, True))
            continue
        for pattern, words in ((_LINE_IGNORE, _WORD_RE), (_LINE_NOQA, _CODE_RE)):
            for match in pattern.finditer(comment):
                directive = _directive(row, column, match, words, False)
                first, last = spans.get(row, (row, row))
                for covered in range(first, last + 1):
                    by_row.setdefault(covered, []).append(directive)
    return FileSuppressions(by_row, file_level)


def _directive(
    row: int, column: int, match: re.Match[str], words: re.Pattern[str], file_level: bool
) -> Directive:
    codes = None
    if match.group("codes") is not None:
        base = column + match.start("codes")
        codes = tuple(
            (m.group().upper(), base + m.start(), base + m.end())
            for m in words.finditer(match.group("codes"))
        )
    return Directive(row, column + match.start(), column + match.end(), codes, file_level)


def unused_directive_findings(
    source: SourceFile,
    suppressions: FileSuppressions,
    enabled_codes: Collection[str],
    model_id: str | None,
    *,
    judge_unknown: bool = True,
    reported: Mapping[int, Collection[str]] | None = None,
) -> list[Diagnostic]:
    """QAI001 for each QAI code of a directive that silenced nothing, with a removal fix.

    ``reported``: the codes still reported on each row. A prefix or a mistyped code is what the
    author meant to silence: the finding names the codes it could mean, and when one of them is
    reported on that line the fix (unsafe: it silences a finding) writes it in; it is never
    deleted, which would leave the finding it was written for in place."""
    reported = reported or {}
    known = CATALOGUE
    findings = []
    for directive in suppressions.directives():
        if directive.codes is None:
            continue
        ours = [c for c in directive.codes if c[0].startswith(OUR_PREFIX)]
        # Codes of rules that did not run this time may well be needed: only enabled codes,
        # and codes that name no rule at all, can be judged.
        unused = [
            c
            for c in ours
            if (c[0] in enabled_codes or (judge_unknown and c[0] not in known))
            and c[0] not in directive.used
        ]
        if not unused:
            continue
        line = source.line(directive.row)
        unknown = [c for c in unused if c[0] not in known]
        fix = _removal_fix(source, directive, {c[0] for c in unused}, line) if not unknown else None
        here = set(reported.get(directive.row, ()))
        for code, start, end in unused:
            where = "file-level directive" if directive.file_level else "directive"
            code_fix = fix
            if code in known:
                message = (
                    f"unused {where} for {code}: nothing here is reported as {code}; remove it"
                )
            else:
                meant = _meant(code, here)
                if meant and set(meant) & here:
                    wanted = next(c for c in meant if c in here)
                    code_fix = _replace_code_fix(directive.row, start, end, wanted)
                options = " or ".join(meant)
                hint = f": did you mean {options}?" if meant else ""
                if _is_prefix(code):
                    message = (
                        f"{where} names {code}, a prefix of codes: it silences nothing, as a "
                        f"noqa takes exact codes only{hint}"
                    )
                else:
                    message = f"{where} names {code}, which is not a qaihm-lint rule{hint}"
            findings.append(
                UnusedNoqa.diagnostic(
                    source.path,
                    message,
                    model_id=model_id,
                    start=Location(directive.row, start + 1),
                    end=Location(directive.row, end + 1),
                    fix=code_fix,
                    anchor=line.strip(),
                )
            )
    return findings


def _meant(code: str, here: set[str]) -> list[str]:
    """The codes a prefix or a mistyped code may stand for: those reported on the line first,
    then the prefix's codes (up to three), else the nearest codes."""
    try:
        under = sorted(rule_selectors.parse(code).codes)
    except rule_selectors.UnknownSelector:
        under = []
    if under:
        return sorted(set(under) & here) or under[:3]
    near = rule_selectors.near_codes(code)
    return sorted(set(near) & here) or near


def _replace_code_fix(row: int, start: int, end: int, code: str) -> Fix:
    edit = Edit(Location(row, start + 1), Location(row, end + 1), code)
    return Fix(Applicability.UNSAFE, f"Write {code}, the code reported on this line", (edit,))


def _is_prefix(code: str) -> bool:
    """``QAI3`` in a noqa: a valid --select/--ignore selector, but noqa (like ruff's) takes
    exact codes, so that a directive says what it silences."""
    try:
        rule_selectors.parse(code)
    except rule_selectors.UnknownSelector:
        return False
    return True


def _removal_fix(
    source: SourceFile, directive: Directive, unused: set[str], line: str
) -> Fix | None:
    assert directive.codes is not None
    kept = [code for code, _, _ in directive.codes if code not in unused]
    row = directive.row
    if kept:
        # Keep the other codes in the order and form they were written.
        prefix = line[directive.start : directive.codes[0][1]]
        suffix = line[directive.codes[-1][2] : directive.end]  # the form's closing "]", if any
        replacement = prefix + ", ".join(kept) + suffix
        edit = Edit(
            Location(row, directive.start + 1), Location(row, directive.end + 1), replacement
        )
        return Fix(Applicability.SAFE, "Remove the unused codes from the noqa directive", (edit,))
    rest = line[directive.end :].strip()
    if rest and not rest.startswith("#"):
        # Text after the directive would become code (or be orphaned): leave it to a person.
        return None
    before = line[: directive.start]
    if not before.strip():
        # The directive is the whole line (a file-level comment): remove the line.
        if rest:
            edit = Edit(Location(row, directive.start + 1), Location(row, directive.end + 1), "")
        else:
            end = Location(row + 1, 1) if row < len(source.lines) else Location(row, len(line) + 1)
            edit = Edit(Location(row, 1), end, "")
    else:
        start_col = len(before.rstrip()) + 1
        if rest:
            edit = Edit(Location(row, start_col), Location(row, directive.end + 1), "")
            # Keep the following comment separated from the code by two spaces.
            edit = Edit(edit.start, Location(row, line.index("#", directive.end) + 1), "  ")
        else:
            edit = Edit(Location(row, start_col), Location(row, len(line) + 1), "")
    return Fix(Applicability.SAFE, "Remove the unused noqa directive", (edit,))
