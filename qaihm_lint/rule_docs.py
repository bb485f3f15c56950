"""The rule reference: ``--list-rules``, ``--explain CODE`` and docs/rules.md, all made from
the rule classes (their summaries, reasons and examples)."""

from __future__ import annotations

import json
import textwrap

from qaihm_lint import rule_selectors
from qaihm_lint.rules import all_rules


def list_rules() -> str:
    lines = []
    for code, rule in all_rules().items():
        fix = {None: "   ", "safe": "[*]", "unsafe": "[U]"}[
            rule.fix_applicability.value if rule.fix_applicability else None
        ]
        state = "" if rule.enabled_by_default else " (off by default)"
        severity = "" if rule.severity.value == "error" else " (warning)"
        lines.append(f"{code}  {fix}  {rule.slug:<42} {rule.summary}{severity}{state}")
    lines.append("")
    lines.append("[*] safe fix (--fix), at least in some cases   [U] fix only with --unsafe-fixes")
    return "\n".join(lines) + "\n"


def list_rules_json() -> str:
    """``--list-rules --output-format json``: one object per rule (ruff's ``rule --all
    --output-format json`` field names where they exist)."""
    rows = [
        {
            "code": code,
            "name": rule.slug,
            "summary": rule.summary,
            "severity": rule.severity.value,
            "fix": rule.fix_applicability.value if rule.fix_applicability else None,
            "enabled_by_default": rule.enabled_by_default,
            "explanation": explain(code),
        }
        for code, rule in all_rules().items()
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def rules_markdown() -> str:
    """docs/rules.md: every rule's --explain text under a heading named by its code (the
    anchor a published address would point JSON ``url`` at)."""
    parts = [
        "# qaihm-lint rules\n\n"
        "Generated from the rule classes (`qaihm-lint --explain CODE` prints the same); "
        "`tests/test_project.py` keeps this file in step with them.\n"
    ]
    for code, rule in all_rules().items():
        parts.append(f'\n<a id="{code.lower()}"></a>\n\n## {code} {rule.slug}\n\n')
        parts.append("```text\n" + explain(code) + "```\n")
    return "".join(parts)


def explain(code: str) -> str:
    rules = all_rules()
    by_slug = {rule.slug: rule for rule in rules.values()}
    rule = rules.get(code.upper()) or by_slug.get(code)
    if rule is None:
        hint = rule_selectors.suggest(code)
        raise rule_selectors.UnknownSelector(
            f"unknown rule {code!r}{hint} (see qaihm-lint --list-rules)"
        )
    out = [f"{rule.code} ({rule.slug})", "", rule.summary, ""]
    out += [
        "Why it matters:",
        textwrap.fill(rule.why, 88, initial_indent="  ", subsequent_indent="  "),
        "",
    ]
    state = "on" if rule.enabled_by_default else "off (enable with --select " + rule.code + ")"
    out.append(f"Severity: {rule.severity.value}. Enabled by default: {state}.")
    if rule.fix_applicability is None:
        out.append("Fix: none.")
    else:
        out.append(f"Fix: {rule.fix_applicability.value}. {rule.fix_note}".rstrip())
    for title, examples in (("Valid", rule.valid), ("Invalid", rule.invalid)):
        for example in examples:
            out += ["", f"{title} ({example.path}):"]
            if example.note:
                out.append(
                    textwrap.fill(example.note, 88, initial_indent="  # ", subsequent_indent="  # ")
                )
            for name, text in sorted(example.package_files.items()):
                out.append(f"  # with qai_hub_models/{name}:")
                out += ["  #   " + line for line in text.rstrip("\n").split("\n")]
            body = example.source
            if body is None:
                out.append(f"  ({example.path} absent)")
            else:
                out += ["    " + line for line in body.rstrip("\n").split("\n")]
            if example.fixed is not None:
                out += ["", "  Fixed:"]
                out += ["    " + line for line in example.fixed.rstrip("\n").split("\n")]
    return "\n".join(out) + "\n"
