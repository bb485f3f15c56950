"""Every VALID and INVALID example of every rule, run as a test (Fixit's convention).

An INVALID example's findings (file, span, code, message, fix) are compared with its snapshot
under ``tests/snapshots/examples/<code>/``, as ruff snapshots every case: a change of wording,
position or fix shows in review. After a deliberate change, rewrite the snapshots with
``QAIHM_UPDATE_SNAPSHOTS=1 pytest tests/test_rule_examples.py`` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qaihm_lint.diagnostics import Diagnostic
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


SNAPSHOTS = Path(__file__).parent / "snapshots" / "examples"


def _render(findings: list[Diagnostic], root: Path) -> str:
    """The findings as the snapshot holds them, with the temporary folder's path left out."""
    lines = []
    for d in sorted(findings, key=Diagnostic.sort_key):
        where = d.path.relative_to(root).as_posix()
        span = f"{d.start.row}:{d.start.column}-{d.end.row}:{d.end.column}"
        lines.append(f"{where}:{span} {d.code} {d.message}".replace(str(root), "<tree>"))
        if d.fix is not None:
            target = d.fix_path.relative_to(root).as_posix()
            lines.append(f"  fix ({d.fix.applicability.value}, {target}): {d.fix.message}")
    return "\n".join(lines) + "\n"


def _check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("QAIHM_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}: run with QAIHM_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(encoding="utf-8")


def _lint(tmp_path: Path, rule: type[Rule], example: Example) -> list:
    tree = build_example(tmp_path, example)
    select = [rule.code, *example.also_select]
    findings = lint_paths([tree.model()], select=select)
    crashes = [d.message for d in findings if d.code == "QAI002" and rule.code != "QAI002"]
    assert not crashes, crashes  # a rule that raises on its own example
    return [d for d in findings if d.code == rule.code]


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
    number = rule.invalid.index(example)
    _check_snapshot(f"{rule.code}/invalid-{number}.txt", _render(findings, tmp_path))
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


def test_every_rule_class_has_its_catalogue_row() -> None:
    """A rule class left out of the catalogue would never run: every concrete class of the rule
    modules (one that overrides a check) is the class of some row, of the row's kind."""
    import importlib
    import inspect
    import pkgutil

    import qaihm_lint.rules as package
    from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule

    registered = set(all_rules().values())  # loading checks each row's kind
    for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Rule):
                continue
            concrete = any(
                name in cls.__dict__
                for name in ("check", "check_package", "begin_file", "end_file", "summary")
            ) or any(name.startswith(("visit_", "leave_")) for name in cls.__dict__)
            if concrete and cls not in (FolderRule, PackageRule, PythonRule):
                assert cls in registered, f"{cls.__qualname__} has no row in the catalogue"
