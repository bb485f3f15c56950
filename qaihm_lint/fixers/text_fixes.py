"""Line edits for requirements files and flat YAML files.

Each helper returns one ``Edit`` that changes only the text it must: the rest of the file, its
comments and its line endings (``\\r\\n`` stays ``\\r\\n``) are untouched. They return None when
the change cannot be made that narrowly (a value spread over several lines, a flow mapping);
the finding is then reported without a fix rather than with a risky one.
"""

from __future__ import annotations

import re

from qaihm_lint.diagnostics import Edit, Location
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.yamlfile import YamlDocument

_BOOL_TOKEN = re.compile(
    r"(?:true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|~|null|Null"
    r"|NULL)(?=\s*(?:#|$))"
)


def newline_of(source: SourceFile) -> str:
    """The file's line ending (the first one it uses; ``\\n`` for a file without any)."""
    text = source.text
    index = text.find("\n")
    if index > 0 and text[index - 1] == "\r":
        return "\r\n"
    if index == -1 and "\r" in text:
        return "\r"
    return "\n"


def replace_in_line(row: int, start: int, end: int, content: str) -> Edit:
    """Replace 0-based character offsets [start, end) of one line."""
    return Edit(Location(row, start + 1), Location(row, end + 1), content)


def delete_line(source: SourceFile, row: int) -> Edit:
    """Remove one physical line with its terminator (the previous one's for the last line)."""
    lines = source.lines
    if row < len(lines):
        return Edit(Location(row, 1), Location(row + 1, 1), "")
    if row > 1:
        previous_end = Location(row - 1, len(lines[row - 2]) + 1)
        return Edit(previous_end, Location(row, len(lines[row - 1]) + 1), "")
    return Edit(Location(1, 1), Location(1, len(lines[0]) + 1), "")


def _top_level_scalar_row(source: SourceFile, document: YamlDocument, key: str) -> int | None:
    """The row of ``key: <scalar>`` when key and value share one line and nothing below
    continues the value."""
    key_at = document.key_locations.get(key)
    value_at = document.value_locations.get(key)
    if key_at is None or value_at is None or key_at.column != 1 or value_at.row != key_at.row:
        return None
    following = source.line(key_at.row + 1)
    if following[:1].isspace() and following.strip() and not following.strip().startswith("#"):
        return None
    return key_at.row


def set_top_level_true(
    source: SourceFile | None, document: YamlDocument | None, key: str
) -> Edit | None:
    """An edit that makes ``key: true`` hold in a flat YAML mapping file.

    Creates the file when ``source`` is None; turns an existing false-like value into ``true``;
    otherwise appends the key after the last line.
    """
    if source is None:
        return Edit(Location(1, 1), Location(1, 1), f"{key}: true\n")
    try:
        text = source.text
    except SourceError:
        return None
    if document is not None and key in document.key_locations:
        row = _top_level_scalar_row(source, document, key)
        value_at = document.value_locations[key]
        if row is None:
            return None
        line = source.line(row)
        match = _BOOL_TOKEN.match(line, value_at.column - 1)
        if match is None:
            return None
        return replace_in_line(row, match.start(), match.end(), "true")
    data = document.data if document is not None else None
    if data is not None and not isinstance(data, dict):
        return None
    if _is_flow_or_explicit(source):
        return None  # appending a block key would not extend a flow mapping or a closed document
    newline = newline_of(source)
    lines = source.lines
    end = Location(len(lines), len(lines[-1]) + 1)
    prefix = "" if not text or text.endswith(("\n", "\r")) else newline
    return Edit(end, end, f"{prefix}{key}: true{newline}")


def _is_flow_or_explicit(source: SourceFile) -> bool:
    content = [
        line.strip() for line in source.lines if line.strip() and not line.strip().startswith("#")
    ]
    if not content:
        return False
    return content[0].startswith(("{", "[")) or content[-1] in ("...", "---")


def remove_top_level_key(source: SourceFile, document: YamlDocument, key: str) -> Edit | None:
    """Delete the ``key: value`` line of a flat YAML mapping (None when the value spans lines)."""
    row = _top_level_scalar_row(source, document, key)
    if row is None:
        return None
    return delete_line(source, row)
