"""A JSON array with ruff's field names, so existing tooling reads it."""

from __future__ import annotations

import json
from typing import Any

from qaihm_lint.diagnostics import rule_url
from qaihm_lint.report import ReportContext, statistics


def as_dict(d: Any) -> dict[str, Any]:
    return {
        "code": d.code,
        "rule": d.rule,
        "message": d.message,
        "severity": d.severity.value,
        "filename": str(d.path),
        "location": d.start.to_json(),
        "end_location": d.end.to_json(),
        "fix": None if d.fix is None else d.fix.to_json(),
        "model_id": d.model_id,
        "url": rule_url(d.code),
    }


def render(ctx: ReportContext) -> str:
    if ctx.statistics:
        return render_statistics(ctx)
    return json.dumps([as_dict(d) for d in ctx.diagnostics], indent=2, ensure_ascii=False) + "\n"


def render_statistics(ctx: ReportContext) -> str:
    """``--statistics`` as ruff prints it with ``--output-format json``: one object per code,
    ``fixable`` true when ``--fix`` (with this run's --unsafe-fixes) repairs every finding."""
    rows = [
        {
            "code": row.code,
            "name": row.name,
            "count": row.count,
            "fixable": row.fixable_count == row.count,
            "fixable_count": row.fixable_count,
        }
        for row in statistics(ctx)
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
