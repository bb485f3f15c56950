"""JUnit XML for CI dashboards: a passing case per model and rule family, a failing case per
finding (with its file and line, as pytest's and ruff's JUnit reports have), and a case per deep
stage. Every text a model or a file can put here is escaped: the document stays valid XML 1.0."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.report import ReportContext, family_of, printable


def _text(value: str) -> str:
    return printable(value, newlines=True)


def _attr(value: str) -> str:
    return printable(value)


def render(ctx: ReportContext) -> str:
    families = sorted({family_of(code) for code in ctx.enabled if not code.startswith("QAI8")})
    by_case: dict[tuple[str, str], list[Diagnostic]] = defaultdict(list)
    for d in ctx.diagnostics:
        if d.code.startswith("QAI8"):
            continue  # deep findings come per stage, through deep_cases
        by_case[(d.model_id or "(package)", family_of(d.code))].append(d)
    models = sorted(set(ctx.model_ids) | {model for model, _ in by_case})

    suites = ET.Element("testsuites", name="qaihm-lint")
    suite = ET.SubElement(suites, "testsuite", name="qaihm-lint")
    total = failures = skipped = 0
    for model in models:
        classname = _attr(f"qaihm_lint.{model}")
        for family in sorted(set(families) | {f for m, f in by_case if m == model}):
            findings = by_case.get((model, family), [])
            if not findings:
                total += 1
                ET.SubElement(suite, "testcase", classname=classname, name=family)
                continue
            seen: dict[str, int] = defaultdict(int)
            for d in findings:
                where = ctx.repo_path(d.path)
                name = f"{family}.{d.code} {where}:{d.start.row}:{d.start.column}"
                seen[name] += 1
                if seen[name] > 1:  # two findings of one code at one place: keep both cases
                    name += f" ({seen[name]})"
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=classname,
                    name=_attr(name),
                    file=_attr(where),
                    line=str(d.start.row),
                )
                failure = ET.SubElement(
                    case, "failure", message=_attr(f"{d.code} {d.message}"), type=d.code
                )
                failure.text = _attr(
                    f"{ctx.display_path(d.path)}:{d.start.row}:{d.start.column}: "
                    f"{d.code} {d.message}"
                )
                total += 1
                failures += 1
    for deep_case in sorted(ctx.deep_cases, key=lambda c: c.model_id):  # stages in run order
        total += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_attr(f"qaihm_lint.{deep_case.model_id}"),
            name=_attr(deep_case.name),
        )
        if deep_case.status == "skip":
            skipped += 1
            ET.SubElement(case, "skipped", message=_attr(deep_case.message or "skipped"))
        elif deep_case.status != "ok":
            failures += 1
            failure = ET.SubElement(case, "failure", message=_attr(deep_case.status), type="deep")
            failure.text = _text(deep_case.message)
        elif deep_case.message:
            # A passing stage with a remark (an input the ONNX exporter dropped, say).
            ET.SubElement(case, "system-out").text = _text(deep_case.message)
    for element in (suites, suite):
        element.set("tests", str(total))
        element.set("skipped", str(skipped))
        element.set("failures", str(failures))
        element.set("errors", "0")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
