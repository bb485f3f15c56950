"""The manifest layout's ``external_repos`` entries (its replacement for SourceAsRoot), with the
line of each entry and of its keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.rules.base import FolderRule
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout


@dataclass
class ExternalRepo:
    name: str
    data: dict[str, object]
    line: int  # of the repo's key


def external_repos(rule: FolderRule) -> tuple[SourceFile, list[ExternalRepo]] | None:
    source = rule.folder.file(Layout.MANIFEST.value)
    if source is None:
        return None
    try:
        document = yamlfile.load(source)
    except SourceError:
        return None
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("external_repos"), dict):
        return None
    start = document.location_of("external_repos").row
    repos = []
    for name, entry in data["external_repos"].items():
        if not isinstance(entry, dict):
            continue
        line = find_line(source, start, rf"^\s+{re.escape(str(name))}\s*:")
        repos.append(ExternalRepo(str(name), entry, line or start))
    return source, repos


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
