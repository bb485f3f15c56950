"""Spreading a run over a CI matrix: ``--shard K/N`` and ``--merge-reports``.

A shard is chosen deterministically from the folders of the run and the cost each model took
when it last ran (``cache.record_cost``: one file per model under the deep cache's ``costs/``).
Every shard computes the same partition as long as all of them see the same folders and the
same cost files, which is why the example workflow restores one shared cache into every shard
and merges the shards' ``costs/`` back after the run. Costs are used only when every model of
the run has one (otherwise the split is even: round robin over the sorted model ids), and a
sharded run records the cost of a model only when it has none yet; an unsharded deep run
refreshes them. So shards run one after another on one machine, where each sees the costs the
ones before it wrote, still agree on the partition.

The partition is greedy longest-processing-time: models by cost, highest first (ties by id),
each to the shard with the least work so far (ties to the lowest shard number).

Merging reads the shards' reports back: JSON arrays (ruff's fields) merge into any format but
junit; JUnit files (which also carry the stages that passed) merge into junit. Findings that
several shards report (package-level rules see the whole package from every shard) appear once.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qaihm_lint.deep.cache import recorded_costs
from qaihm_lint.deep.options import DeepOptions, cache_dir_for
from qaihm_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Severity
from qaihm_lint.report import ReportContext, renderer
from qaihm_lint.workspace import ModelFolder

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A malformed --shard value or unreadable report; the CLI prints it and exits 2."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    match = _SHARD.match(text)
    if match is None:
        raise ShardError(f"--shard {text!r}: expected K/N, e.g. 2/4")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"--shard {text}: K must be between 1 and N (N at least 1)")
    return Shard(index, count)


def partition(
    folders: Sequence[ModelFolder], count: int, costs: Mapping[str, float]
) -> list[list[ModelFolder]]:
    """All ``count`` shards of ``folders``, each in the folders' sorted order."""
    complete = all(folder.model_id in costs for folder in folders)

    def cost(folder: ModelFolder) -> float:
        return costs[folder.model_id] if complete else 1.0

    order = sorted(folders, key=lambda f: (-cost(f), f.model_id, f.path.as_posix()))
    loads = [0.0] * count
    shards: list[list[ModelFolder]] = [[] for _ in range(count)]
    for folder in order:
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += cost(folder)
        shards[target].append(folder)
    return [sorted(shard, key=lambda f: (f.model_id, f.path.as_posix())) for shard in shards]


def select(
    folders: Sequence[ModelFolder], shard: Shard, costs: Mapping[str, float]
) -> list[ModelFolder]:
    return partition(folders, shard.count, costs)[shard.index - 1]


# ---------------------------------------------------------------------------------------------
# Merging reports.


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShardError(f"cannot read report {path}: {exc}") from exc


def report_kind(path: Path, text: str) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("<"):
        return "junit"
    raise ShardError(f"{path} is neither a JSON nor a JUnit report of qaihm-lint")


def _location(data: Any, path: Path) -> Location:
    try:
        return Location(int(data["row"]), int(data["column"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(f"{path}: a finding has no valid location") from exc


def _diagnostic(data: Any, path: Path) -> Diagnostic:
    if not isinstance(data, dict):
        raise ShardError(f"{path}: expected an array of findings")
    try:
        fix = None
        if data.get("fix"):
            fix = Fix(
                Applicability(data["fix"]["applicability"]),
                str(data["fix"]["message"]),
                tuple(
                    Edit(
                        _location(edit["location"], path),
                        _location(edit["end_location"], path),
                        str(edit["content"]),
                    )
                    for edit in data["fix"]["edits"]
                ),
            )
        return Diagnostic(
            code=str(data["code"]),
            rule=str(data["rule"]),
            message=str(data["message"]),
            severity=Severity(data["severity"]),
            path=Path(str(data["filename"])),
            start=_location(data["location"], path),
            end=_location(data["end_location"], path),
            model_id=data.get("model_id"),
            fix=fix,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(f"{path}: a finding lacks {exc}") from exc


def merge_json(paths: Sequence[Path]) -> list[Diagnostic]:
    """Every finding of the JSON reports, once each, in the usual order."""
    seen: dict[tuple[Any, ...], Diagnostic] = {}
    for path in paths:
        try:
            items = json.loads(_read(path))
        except ValueError as exc:
            raise ShardError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise ShardError(f"{path}: expected an array of findings")
        for item in items:
            diagnostic = _diagnostic(item, path)
            seen.setdefault((*diagnostic.sort_key(), diagnostic.end), diagnostic)
    return sorted(seen.values(), key=Diagnostic.sort_key)


def merge_junit(paths: Sequence[Path]) -> tuple[str, int]:
    """One JUnit document holding every test case of the reports (a case several shards report
    once, failing if it failed anywhere), and its number of failures."""
    cases: dict[tuple[str, str], ET.Element] = {}
    for path in paths:
        try:
            root = ET.fromstring(_read(path))
        except ET.ParseError as exc:
            raise ShardError(f"{path} is not valid JUnit XML: {exc}") from exc
        for case in root.iter("testcase"):
            key = (case.get("classname") or "", case.get("name") or "")
            kept = cases.get(key)
            if kept is None or (kept.find("failure") is None and case.find("failure") is not None):
                cases[key] = case
    suites = ET.Element("testsuites", name="qaihm-lint")
    suite = ET.SubElement(suites, "testsuite", name="qaihm-lint")
    failures = skipped = 0
    # Grouped by model, each model's cases in the order its report gave them (stage order).
    for case in sorted(cases.values(), key=lambda c: c.get("classname") or ""):
        suite.append(case)
        failures += case.find("failure") is not None
        skipped += case.find("skipped") is not None
    for element in (suites, suite):
        element.set("tests", str(len(cases)))
        element.set("skipped", str(skipped))
        element.set("failures", str(failures))
        element.set("errors", "0")
    ET.indent(suites)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
    return text + "\n", failures


# ---------------------------------------------------------------------------------------------
# The command line's side (cli.py calls these).


def shard_folders(
    folders: Sequence[ModelFolder], shard: Shard, use_cache: bool
) -> list[ModelFolder]:
    """The folders of ``shard``, balanced by the costs the deep cache recorded."""
    costs = recorded_costs(cache_dir_for(folders, DeepOptions(use_cache=use_cache)))
    return select(folders, shard, costs)


def render_merged(paths: Sequence[Path], output_format: str) -> tuple[str, int]:
    """The merged report of ``paths`` in ``output_format``, and how many findings it holds."""
    if not paths:
        raise ShardError("--merge-reports needs the report files to merge as PATHs")
    kinds = {report_kind(path, _read(path)) for path in paths}
    if len(kinds) > 1:
        raise ShardError("--merge-reports: give only JSON reports or only JUnit reports")
    (kind,) = kinds
    if kind == "junit":
        if output_format != "junit":
            raise ShardError("JUnit reports merge into --output-format junit only")
        return merge_junit(paths)
    if output_format == "junit":
        raise ShardError(
            "JSON reports hold no passing stages: merge the shards' JUnit reports for junit"
        )
    diagnostics = merge_json(paths)
    context = ReportContext(
        diagnostics=diagnostics,
        model_ids=sorted({d.model_id for d in diagnostics if d.model_id}),
        enabled=frozenset(d.code for d in diagnostics),
    )
    return renderer(output_format)(context), len(diagnostics)
