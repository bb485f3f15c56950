"""JUnit XML: one test case per model and rule family (and deep stage), for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.report import ReportContext, family_of


def render(ctx: ReportContext) -> str:
    families = sorted({family_of(code) for code in ctx.enabled if not code.startswith("QAI8")})
    by_case: dict[tuple[str, str], list[Diagnostic]] = defaultdict(list)
    for d in ctx.diagnostics:
        if d.code.startswith("QAI8"):
            continue  # deep findings come per stage, through deep_cases
        by_case[(d.model_id or "(package)", family_of(d.code))].append(d)
    models = sorted(set(ctx.model_ids) | {model for model, _ in by_case})
    cases: list[tuple[str, str, list[Diagnostic]]] = []
    for model in models:
        for family in sorted(set(families) | {f for m, f in by_case if m == model}):
            cases.append((model, family, by_case.get((model, family), [])))

    suites = ET.Element("testsuites", name="qaihm-lint")
    suite = ET.SubElement(suites, "testsuite", name="qaihm-lint")
    failures = 0
    for model, family, findings in cases:
        case = ET.SubElement(suite, "testcase", classname=f"qaihm_lint.{model}", name=family)
        if findings:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(findings)} finding{'s' * (len(findings) != 1)}",
                type=",".join(sorted({d.code for d in findings})),
            )
            failure.text = "\n".join(
                f"{ctx.display_path(d.path)}:{d.start.row}:{d.start.column}: {d.code} {d.message}"
                for d in findings
            )
    skipped = 0
    for deep_case in sorted(ctx.deep_cases, key=lambda c: c.model_id):  # stages in run order
        case = ET.SubElement(
            suite, "testcase", classname=f"qaihm_lint.{deep_case.model_id}", name=deep_case.name
        )
        if deep_case.status == "skip":
            skipped += 1
            ET.SubElement(case, "skipped", message=deep_case.message or "skipped")
        elif deep_case.status != "ok":
            failures += 1
            failure = ET.SubElement(case, "failure", message=deep_case.status, type="deep")
            failure.text = deep_case.message
        elif deep_case.message:
            # A passing stage with a remark (an input the ONNX exporter dropped, say).
            ET.SubElement(case, "system-out").text = deep_case.message
    total = len(cases) + len(ctx.deep_cases)
    for element in (suites, suite):
        element.set("tests", str(total))
        element.set("skipped", str(skipped))
        element.set("failures", str(failures))
        element.set("errors", "0")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
