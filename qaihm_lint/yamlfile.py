"""YAML documents parsed once, safely, with the line of every top-level key.

Only PyYAML's safe loader is used (no arbitrary tags). Anchor-and-alias "bombs" are refused
before construction, and duplicate top-level keys (which ``yaml.safe_load`` silently collapses)
are kept visible to rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from qaihm_lint.diagnostics import Location
from qaihm_lint.sources import SourceError, SourceFile

MAX_ALIASES = 64
MAX_YAML_BYTES = 1_000_000
MAX_FLOW_DEPTH = 200


class YamlError(SourceError):
    pass


@dataclass
class YamlDocument:
    data: Any
    # Top-level key -> location of the key (first occurrence).
    key_locations: dict[str, Location] = field(default_factory=dict)
    value_locations: dict[str, Location] = field(default_factory=dict)
    value_ends: dict[str, Location] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, Location]] = field(default_factory=list)

    def location_of(self, key: str) -> Location:
        return self.key_locations.get(key, Location(1, 1))

    def value_span(self, key: str) -> tuple[Location, Location]:
        """Where the value of top-level ``key`` starts and ends (its key's place if absent)."""
        start = self.value_locations.get(key, self.location_of(key))
        return start, self.value_ends.get(key, start)


def _mark_location(mark: Any) -> Location:
    if mark is None:
        return Location(1, 1)
    return Location(mark.line + 1, mark.column + 1)


def _check_aliases(text: str) -> None:
    if "*" not in text or "&" not in text:
        return
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlError(
                        f"uses more than {MAX_ALIASES} aliases; refusing to expand it",
                        _mark_location(event.start_mark),
                    )
    except yaml.YAMLError:
        return  # the real parse below reports it with its location


def _check_depth(text: str) -> None:
    """Refuse deep flow nesting (``[[[[...``) before PyYAML's scanner, which is quadratic in it,
    spends seconds reaching its recursion limit."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return
    depth = 0
    for index, character in enumerate(text):
        if character in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                row = text.count("\n", 0, index) + 1
                column = index - (text.rfind("\n", 0, index) + 1) + 1
                raise YamlError("is nested too deeply to parse", Location(row, column))
        elif character in "]}" and depth:
            depth -= 1


# libyaml's parser when PyYAML was built with it: the same documents, nodes and marks, an order
# of magnitude faster than the pure-Python scanner.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _reader_error(source: SourceFile, exc: yaml.reader.ReaderError) -> YamlError:
    character = (
        exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    )
    return YamlError(
        f"is not valid YAML: {exc.reason} (character #x{character:04x})",
        source.location(exc.position),
    )


def load(source: SourceFile) -> YamlDocument:
    """Parse ``source`` as one YAML document; raises YamlError (a SourceError) with a location."""
    cached = source.memo.get("yaml")
    if isinstance(cached, YamlDocument):
        return cached
    if isinstance(cached, YamlError):
        raise cached
    try:
        document = _load(source)
    except YamlError as exc:
        source.memo["yaml"] = exc
        raise
    source.memo["yaml"] = document
    return document


def _load(source: SourceFile) -> YamlDocument:
    if len(source.data) > MAX_YAML_BYTES:
        raise YamlError(f"is too large ({len(source.data):,} bytes)")
    text = source.text
    _check_depth(text)
    try:
        # The reader rejects control characters as soon as it is built (the C reader while
        # parsing: both are caught).
        loader = _LOADER(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(source, exc) from exc
    _check_aliases(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(source, exc) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"is not valid YAML: {problem}", _mark_location(mark)) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise YamlError("is nested too deeply to parse") from exc
    finally:
        loader.dispose()
    document = YamlDocument(data)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            location = _mark_location(key_node.start_mark)
            if key in document.key_locations:
                document.duplicate_keys.append((key, location))
                continue
            document.key_locations[key] = location
            document.value_locations[key] = _mark_location(value_node.start_mark)
            document.value_ends[key] = _mark_location(value_node.end_mark)
    return document
