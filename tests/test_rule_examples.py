"""Every VALID and INVALID example of every rule, run as a test (Fixit's convention)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaihm_lint.rules import all_rules
from qaihm_lint.rules.base import Example, Rule
from qaihm_lint.testing import build_example, fix_paths, lint_paths


def _cases(kind: str) -> list[object]:
    cases = []
    for code, rule in all_rules().items():
        if rule.runtime:
            continue  # --deep's findings: tests/deep runs their models for real
        for number, example in enumerate(getattr(rule, kind)):
            cases.append(pytest.param(rule, example, id=f"{code}-{kind}-{number}"))
    return cases


def _lint(tmp_path: Path, rule: type[Rule], example: Example) -> list:
    tree = build_example(tmp_path, example)
    select = [rule.code, *example.also_select]
    return [d for d in lint_paths([tree.model()], select=select) if d.code == rule.code]


@pytest.mark.parametrize(("rule", "example"), _cases("valid"))
def test_valid_example_has_no_finding(tmp_path: Path, rule: type[Rule], example: Example) -> None:
    findings = _lint(tmp_path, rule, example)
    assert findings == [], [f"{d.path.name}:{d.start.row}: {d.message}" for d in findings]


@pytest.mark.parametrize(("rule", "example"), _cases("invalid"))
def test_invalid_example_is_flagged(tmp_path: Path, rule: type[Rule], example: Example) -> None:
    findings = _lint(tmp_path, rule, example)
    expected = tmp_path / "qai_hub_models" / "models" / "example" / example.path
    assert findings, f"{rule.code} did not flag its INVALID example"
    assert any(d.path == expected for d in findings), [str(d.path) for d in findings]
    for finding in findings:
        assert finding.message and finding.start.row >= 1 and finding.start.column >= 1
        assert finding.model_id == "example"
    if example.fixed is not None:
        select = [rule.code, *example.also_select]
        fix_paths([expected.parent], select=select, unsafe=True)
        assert expected.read_text(encoding="utf-8") == example.fixed
        # The fix removed the finding, and a second run changes nothing.
        assert not [
            d
            for d in lint_paths([expected.parent], select=select)
            if d.path == expected and d.code == rule.code
        ]
        again = fix_paths([expected.parent], select=select, unsafe=True)
        assert again.changed == {}


def test_every_rule_documents_itself() -> None:
    for code, rule in all_rules().items():
        assert code.startswith("QAI") and len(code) == 6
        assert rule.slug and rule.slug == rule.slug.lower() and " " not in rule.slug
        assert rule.summary and rule.why
        if not rule.builtin:
            assert rule.invalid, f"{code} has no INVALID example"
            assert rule.valid, f"{code} has no VALID example"
        if rule.fix_applicability is not None and not rule.builtin:
            assert any(e.fixed is not None for e in rule.invalid), f"{code} shows no fixed text"


def test_codes_and_slugs_are_unique() -> None:
    slugs = [rule.slug for rule in all_rules().values()]
    assert len(slugs) == len(set(slugs))


def test_deep_rules_match_the_deep_runner() -> None:
    from qaihm_lint.deep.outcomes import SLUGS

    runtime = {code: rule.slug for code, rule in all_rules().items() if rule.runtime}
    assert runtime == SLUGS


def test_catalogue_matches_the_rule_classes() -> None:
    from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule
    from qaihm_lint.rules.catalogue import CATALOGUE, Entry

    def kind(rule: type[Rule]) -> str:
        if rule.runtime:
            return "runtime"
        for base, name in (
            (PackageRule, "package"),
            (PythonRule, "python"),
            (FolderRule, "folder"),
        ):
            if issubclass(rule, base):
                return name
        return "builtin"

    expected = {
        code: Entry(
            rule.slug,
            rule.__module__.rsplit(".", 1)[1],
            kind(rule),  # type: ignore[arg-type]
            rule.enabled_by_default,
        )
        for code, rule in all_rules().items()
    }
    table = "\n".join(f"    {code!r}: {entry!r}," for code, entry in expected.items())
    assert expected == CATALOGUE, f"update qaihm_lint/rules/catalogue.py:\n{table}"
