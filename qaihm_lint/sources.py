"""One file of the tree, read once and parsed at most once per run, lazily.

Rules detect on the standard library's ``ast`` (several times cheaper than libcst); libcst is
imported only when a fix is computed, so a run that finds nothing fixable never loads it.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import hashlib
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaihm_lint.diagnostics import FILE_START, Location

if TYPE_CHECKING:
    import libcst

GENERATED_MARKER = "THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY."
# Files above this size are not parsed: real model code is far smaller, and a multi-megabyte
# file in a model folder is data or generated output, not something a person edits.
MAX_PARSE_BYTES = 2_000_000
_NEWLINE = re.compile(r"\r\n|\r|\n")


# While a folder is checked, the files read from disk: those outside the folder are what its
# cached findings must be re-validated against.
_reads: set[Path] | None = None


def note_access(path: Path) -> None:
    """Record that a check looked at ``path`` (read it, or found it absent)."""
    if _reads is not None:
        _reads.add(path)


@contextlib.contextmanager
def recording_reads() -> Iterator[set[Path]]:
    global _reads
    previous, _reads = _reads, set()
    try:
        yield _reads
    finally:
        _reads = previous


def file_at(path: Path) -> SourceFile | None:
    """``path`` as a SourceFile when it is a file, else None. The look is noted either way: a
    file that appears later must invalidate what was concluded from its absence."""
    note_access(path)
    try:
        return SourceFile(path) if path.is_file() else None
    except OSError:
        return None


class SourceError(Exception):
    """A file that cannot be read or decoded; becomes a QAI000 finding, never a crash."""

    def __init__(self, message: str, location: Location = FILE_START) -> None:
        super().__init__(message)
        self.location = location


class SourceFile:
    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        self._data = data
        # Derived parses other modules attach (YAML documents, requirement lines), so that a file
        # is parsed once per run whichever rules read it.
        self.memo: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"SourceFile({self.path})"

    @cached_property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        if _reads is not None:
            _reads.add(self.path)
        try:
            return self.path.read_bytes()
        except IsADirectoryError as exc:
            raise SourceError("is a directory, not a file") from exc
        except PermissionError as exc:
            raise SourceError("cannot be read: permission denied") from exc
        except FileNotFoundError as exc:
            raise SourceError("disappeared while it was being checked") from exc
        except OSError as exc:
            raise SourceError(f"cannot be read: {exc.strerror or exc}") from exc

    @cached_property
    def digest(self) -> str:
        try:
            return hashlib.blake2b(self.data, digest_size=16).hexdigest()
        except SourceError:
            return "unreadable"

    @cached_property
    def text(self) -> str:
        data = self.data
        if b"\x00" in data[:8192]:
            raise SourceError("is a binary file (contains NUL bytes)")
        encoding = self.encoding
        if encoding != "utf-8":
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SourceError(f"is not valid {encoding} as its coding line declares") from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            row = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise SourceError(
                f"is not valid UTF-8 (byte 0x{data[exc.start]:02x})", Location(row, column)
            ) from exc
        return text

    @cached_property
    def encoding(self) -> str:
        """How the file is written: UTF-8, unless a Python file declares another encoding in a
        PEP 263 coding line (``# -*- coding: latin-1 -*-``), as Python itself reads it."""
        if self.path.suffix != ".py" or self.has_bom:
            return "utf-8"
        import io
        import tokenize

        try:
            found, _ = tokenize.detect_encoding(io.BytesIO(self.data).readline)
        except SyntaxError:
            return "utf-8"  # an unknown codec: decoding as UTF-8 reports the file
        return "utf-8" if found in ("utf-8", "utf-8-sig") else found

    @cached_property
    def has_bom(self) -> bool:
        return self.data.startswith(b"\xef\xbb\xbf")

    @cached_property
    def lines(self) -> list[str]:
        """Lines without their terminators; ``lines[0]`` is row 1.

        Only \\n, \\r\\n and \\r end a line, as for Python's tokenizer (``str.splitlines``
        would also split on form feeds and other separators and shift every row after them).
        """
        return _NEWLINE.split(self.text)

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0, *(match.end() for match in _NEWLINE.finditer(self.text))]

    def line(self, row: int) -> str:
        """The text of ``row`` ("" past the end, or when the file cannot be decoded: a finding
        about an undecodable file still needs an anchor)."""
        try:
            lines = self.lines
        except SourceError:
            return ""
        if 1 <= row <= len(lines):
            return lines[row - 1]
        return ""

    def offset(self, location: Location) -> int:
        """Character offset in ``text`` of a 1-based location (clamped to the text)."""
        starts = self._line_starts
        row = max(location.row, 1)
        if row > len(starts):
            return len(self.text)
        line_end = starts[row] if row < len(starts) else len(self.text)
        return min(starts[row - 1] + max(location.column, 1) - 1, line_end)

    def location(self, offset: int) -> Location:
        starts = self._line_starts
        row = bisect.bisect_right(starts, offset)
        return Location(row, offset - starts[row - 1] + 1)

    def char_column(self, row: int, byte_column: int) -> int:
        """Convert ast's 0-based UTF-8 byte column to our 1-based character column."""
        line = self.line(row)
        if line.isascii():
            return byte_column + 1
        return len(line.encode("utf-8")[:byte_column].decode("utf-8", errors="ignore")) + 1

    def node_span(self, node: ast.AST) -> tuple[Location, Location]:
        row = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        end_row = getattr(node, "end_lineno", None) or row
        end_col = getattr(node, "end_col_offset", None)
        start = Location(row, self.char_column(row, col))
        if end_col is None:
            return start, start
        return start, Location(end_row, self.char_column(end_row, end_col))

    @cached_property
    def is_generated(self) -> bool:
        try:
            head = self.data[:2048]
        except SourceError:
            return False
        return GENERATED_MARKER.encode() in head

    @cached_property
    def tree(self) -> ast.Module:
        """The parsed module; raises SourceError with the syntax error's location."""
        if len(self.data) > MAX_PARSE_BYTES:
            raise SourceError(f"is too large to check ({len(self.data):,} bytes)")
        try:
            return ast.parse(self.text, filename=str(self.path))
        except SyntaxError as exc:
            row = exc.lineno or 1
            column = exc.offset or 1
            raise SourceError(f"cannot be parsed: {exc.msg}", Location(row, column)) from exc
        except (ValueError, RecursionError, MemoryError) as exc:
            raise SourceError(f"cannot be parsed: {type(exc).__name__}") from exc

    @cached_property
    def cst(self) -> libcst.Module:
        import libcst

        return libcst.parse_module(self.text)
