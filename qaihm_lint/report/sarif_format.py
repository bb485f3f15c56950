"""SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qaihm_lint import __version__
from qaihm_lint.diagnostics import Severity, rule_url
from qaihm_lint.report import ReportContext

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Locations are relative to the repository root (what code scanning resolves them against),
# named through this base so that a reader can also find the files on this machine.
SRCROOT = "%SRCROOT%"


def _rule_descriptor(code: str) -> dict[str, Any]:
    from qaihm_lint.rule_docs import explain
    from qaihm_lint.rules import all_rules

    rule = all_rules().get(code)
    if rule is None:
        return {"id": code}
    descriptor: dict[str, Any] = {
        "id": code,
        "name": rule.slug,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "defaultConfiguration": {
            "level": "error" if rule.severity is Severity.ERROR else "warning"
        },
    }
    # --explain's text: what the rule checks, why, and its examples, shown beside each alert.
    text = explain(code)
    descriptor["help"] = {"text": text, "markdown": f"```text\n{text}```"}
    url = rule_url(code)
    if url is not None:  # SARIF wants an absolute URI here, or nothing
        descriptor["helpUri"] = url
    return descriptor


def _artifact(ctx: ReportContext, path: Path) -> dict[str, str]:
    location = {"uri": quote(ctx.repo_path(path))}
    if ctx.root is not None:
        location["uriBaseId"] = SRCROOT
    return location


def render(ctx: ReportContext) -> str:
    codes = sorted({d.code for d in ctx.diagnostics} | set(ctx.enabled))
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d in ctx.diagnostics:
        region = {
            "startLine": d.start.row,
            "startColumn": d.start.column,
            "endLine": d.end.row,
            "endColumn": d.end.column,
        }
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error" if d.severity is Severity.ERROR else "warning",
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(ctx, d.path),
                        "region": region,
                    }
                }
            ],
        }
        if d.model_id is not None:
            result["properties"] = {"model_id": d.model_id}
        if d.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": d.fix.message},
                    "artifactChanges": [
                        {
                            "artifactLocation": _artifact(ctx, d.fix_path),
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": e.start.row,
                                        "startColumn": e.start.column,
                                        "endLine": e.end.row,
                                        "endColumn": e.end.column,
                                    },
                                    "insertedContent": {"text": e.content},
                                }
                                for e in d.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "qaihm-lint",
                        "version": __version__,
                        "rules": [_rule_descriptor(code) for code in codes],
                    }
                },
                "results": results,
                **_bases(ctx),
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _bases(ctx: ReportContext) -> dict[str, Any]:
    if ctx.root is None:
        return {}
    root = ctx.root.resolve().as_uri().rstrip("/") + "/"
    return {"originalUriBaseIds": {SRCROOT: {"uri": root}}}
