"""SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import json
from typing import Any

from qaihm_lint import __version__
from qaihm_lint.diagnostics import Severity, rule_url
from qaihm_lint.report import ReportContext

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule_descriptor(code: str) -> dict[str, Any]:
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
    url = rule_url(code)
    if url is not None:  # SARIF wants an absolute URI here, or nothing
        descriptor["helpUri"] = url
    return descriptor


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
                        "artifactLocation": {"uri": ctx.posix_path(d.path)},
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
                            "artifactLocation": {"uri": ctx.posix_path(d.fix_path)},
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
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
