"""``--add-noqa``: a ``# qaihm-lint: ignore[CODES]`` comment on the line of every finding left,
so that a legacy tree adopts the linter in one command (ruff's flag of the same name).

The comment is the form ruff does not read as a noqa directive: upstream's ruff (``RUF100``,
``--fix``) leaves it alone. A line that already carries one gets the new codes in its brackets.
In Python the comment ends the finding's statement (its last row: after a multi-line string or
a continued line), which covers the whole statement. Lines a comment cannot end are left, and
said: a line inside a YAML block or multi-line scalar (the comment would become text), a
requirements line continued with a backslash, a shebang. A file is
written only when its meaning is unchanged (the same Python syntax tree, the same YAML data),
atomically; a second run finds nothing to add.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.diagnostics import Diagnostic, Edit, Location
from qaihm_lint.fixers.edits import apply_edits
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.suppressions import IGNORE_COMMENT, logical_lines, python_tokens

_EXISTING = re.compile(r"#\s*qaihm-lint:\s*ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)


@dataclass
class Added:
    changed: dict[Path, bytes] = field(default_factory=dict)
    added: int = 0  # findings that got a suppression
    left: list[str] = field(default_factory=list)  # why the others did not


def _yaml_unsafe_rows(source: SourceFile) -> set[int] | None:
    import yaml

    unsafe: set[int] = set()
    try:
        for token in yaml.scan(source.text, Loader=yaml.SafeLoader):
            start, end = token.start_mark.line + 1, token.end_mark.line + 1
            if isinstance(token, yaml.ScalarToken) and end > start:
                # A block scalar's text runs to its last line; a plain or quoted one that
                # spans lines would take the comment as text on any line but its last.
                unsafe.update(range(start, end + (token.style in ("|", ">"))))
    except yaml.YAMLError:
        return None
    return unsafe


def _same_meaning(path: Path, old: str, new: str) -> bool:
    if path.suffix == ".py":
        try:
            return ast.dump(ast.parse(old)) == ast.dump(ast.parse(new))
        except (SyntaxError, ValueError, RecursionError):
            return False
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return bool(yaml.safe_load(old) == yaml.safe_load(new))
        except yaml.YAMLError:
            return False
    # requirements files: each line's text before its comment is unchanged.
    return [_before_comment(line) for line in old.splitlines()] == [
        _before_comment(line) for line in new.splitlines()
    ]


def _before_comment(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].rstrip()


def _line_edit(line: str, row: int, codes: set[str]) -> Edit:
    existing = _EXISTING.search(line)
    if existing is not None:
        written = {c.strip().upper() for c in existing.group("codes").split(",") if c.strip()}
        merged = ", ".join(sorted(written | codes))
        start, end = existing.span("codes")
        return Edit(Location(row, start + 1), Location(row, end + 1), merged)
    comment = f"{IGNORE_COMMENT}[{', '.join(sorted(codes))}]"
    stripped = line.rstrip()
    if not stripped:
        return Edit(Location(row, 1), Location(row, len(line) + 1), comment)
    return Edit(Location(row, len(stripped) + 1), Location(row, len(line) + 1), "  " + comment)


def add_suppressions(
    diagnostics: Iterable[Diagnostic], contents: Mapping[Path, bytes] | None = None
) -> Added:
    """The new contents of every file that gets a suppression (not written yet). ``contents``:
    texts that shadow the disk (an editor's unsaved buffers, for the language server)."""
    outcome = Added()
    by_path: dict[Path, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for d in diagnostics:
        if d.code == "QAI000" or d.code.startswith("QAI8"):
            # A file that does not parse has no safe place for a comment; deep verdicts are
            # about the model, not a line.
            outcome.left.append(f"{d.path}:{d.start.row}: {d.code} not suppressed: fix it")
            continue
        by_path[d.path][d.start.row].append(d.code)
    for path, rows in sorted(by_path.items()):
        _add_to_file(path, rows, outcome, (contents or {}).get(path))
    return outcome


def _unsafe_rows(path: Path, source: SourceFile) -> set[int] | None:
    if path.suffix == ".py":
        return set() if python_tokens(source) is not None else None
    if path.suffix in (".yaml", ".yml"):
        return _yaml_unsafe_rows(source)
    return {r for r, line in enumerate(source.lines, start=1) if line.rstrip().endswith("\\")}


def _add_to_file(
    path: Path, rows: dict[int, list[str]], outcome: Added, data: bytes | None = None
) -> None:
    def leave(codes: list[str], row: int | None, reason: str) -> None:
        where = f"{path}:{row}" if row is not None else str(path)
        outcome.left.append(f"{where}: {', '.join(sorted(set(codes)))} not suppressed: {reason}")

    everything = [code for codes in rows.values() for code in codes]
    if data is None and (path.is_symlink() or not path.is_file()):
        return leave(everything, None, "not a regular file")
    source = SourceFile(path, data)
    try:
        text = source.text
        unsafe = _unsafe_rows(path, source)
    except SourceError as exc:
        return leave(everything, None, f"the file {exc}")
    if unsafe is None:
        return leave(everything, None, "the file does not parse")
    # In Python the comment goes at the end of the finding's statement (after a multi-line
    # string, after the last continued line), which covers every row of the statement.
    tokens = python_tokens(source) if path.suffix == ".py" else None
    spans = logical_lines(tokens) if tokens is not None else {}
    targets: dict[int, set[str]] = defaultdict(set)
    added = 0
    for row, codes in sorted(rows.items()):
        target = spans.get(row, (row, row))[1]
        line = source.line(target)
        if target in unsafe or target > len(source.lines) or line.startswith("#!"):
            leave(codes, row, "a comment cannot end this line (inside a string or continued)")
            continue
        targets[target].update(codes)
        added += len(codes)
    edits = [_line_edit(source.line(row), row, codes) for row, codes in sorted(targets.items())]
    new = apply_edits(text, source, edits)
    if new != text:
        if not _same_meaning(path, text, new):
            return leave(everything, None, "a comment would change what the file means")
        outcome.changed[path] = (b"\xef\xbb\xbf" if source.has_bom else b"") + new.encode()
    outcome.added += added
    return None
