"""The ``external_repos`` entries that replaced SourceAsRoot, with the line of each entry and of
its keys: in manifest.yaml (manifest layout), or in code-gen.yaml in the releases between the
two layouts (0.52.0-0.58.0 declare them there, beside info.yaml)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.rules.base import FolderRule
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import CODE_GEN_YAML, Layout


@dataclass
class ExternalRepo:
    name: str
    data: dict[str, object]
    line: int  # of the repo's key
    source: SourceFile  # the manifest.yaml or code-gen.yaml it is written in


def external_repos(rule: FolderRule) -> Iterator[ExternalRepo]:
    """The entries of the folder's ``external_repos`` (none when the file is missing,
    unreadable or has no such mapping)."""
    name = Layout.MANIFEST.value if rule.folder.layout is Layout.MANIFEST else CODE_GEN_YAML
    source = rule.folder.file(name)
    if source is None:
        return
    try:
        document = yamlfile.load(source)
    except SourceError:
        return
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("external_repos"), dict):
        return
    start = document.location_of("external_repos").row
    for name, entry in data["external_repos"].items():
        if isinstance(entry, dict):
            line = find_line(source, start, rf"^\s+{re.escape(str(name))}\s*:")
            yield ExternalRepo(str(name), entry, line or start, source)


def find_line(source: SourceFile, start: int, pattern: str) -> int | None:
    compiled = re.compile(pattern)
    for row in range(start, len(source.lines) + 1):
        if compiled.match(source.line(row)):
            return row
    return None


def line_span(source: SourceFile, row: int, key: str) -> tuple[Location, Location]:
    line = source.line(row)
    column = line.find(key)
    column = column + 1 if column >= 0 else 1
    return Location(row, column), Location(row, len(line) + 1)
