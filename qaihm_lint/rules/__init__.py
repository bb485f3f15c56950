"""The rule registry: every rule class, by code, in catalogue order."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache

from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule, Rule
from qaihm_lint.rules.catalogue import CATALOGUE

__all__ = [
    "CATALOGUE",
    "FolderRule",
    "PackageRule",
    "PythonRule",
    "Rule",
    "UnknownSelector",
    "all_rules",
    "resolve_selection",
]


class UnknownSelector(ValueError):
    pass


def _concrete_subclasses(cls: type[Rule]) -> Iterable[type[Rule]]:
    for sub in cls.__subclasses__():
        if "code" in sub.__dict__:
            yield sub
        yield from _concrete_subclasses(sub)


@cache
def all_rules() -> dict[str, type[Rule]]:
    """Import every family module of this package once and index their rules by code."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in ("base", "catalogue"):
            importlib.import_module(f"{__name__}.{module.name}")
    rules: dict[str, type[Rule]] = {}
    for rule in _concrete_subclasses(Rule):
        if rule.code in rules and rules[rule.code] is not rule:
            raise RuntimeError(f"two rules claim {rule.code}: {rules[rule.code]} and {rule}")
        rules[rule.code] = rule
    return dict(sorted(rules.items()))


def _matches(selector: str, codes: Iterable[str]) -> list[str]:
    selector = selector.strip().upper()
    if selector == "ALL":
        return list(codes)
    return [code for code in codes if code.startswith(selector)]


def resolve_selection(select: Iterable[str] | None, ignore: Iterable[str]) -> frozenset[str]:
    """The enabled codes. Prefixes select families (``QAI3``); rules that are off by default
    are enabled only by their exact code. Reads the catalogue: no rule module is imported."""
    by_slug = {entry.slug: code for code, entry in CATALOGUE.items()}
    enabled: set[str] = set()
    if select is None:
        enabled = {code for code, entry in CATALOGUE.items() if entry.enabled_by_default}
    else:
        for selector in select:
            selector = by_slug.get(selector.strip(), selector)
            matched = _matches(selector, CATALOGUE)
            if not matched:
                raise UnknownSelector(f"unknown rule selector {selector.strip()!r}")
            exact = selector.strip().upper() in CATALOGUE
            enabled.update(c for c in matched if exact or CATALOGUE[c].enabled_by_default)
    for selector in ignore:
        selector = by_slug.get(selector.strip(), selector)
        matched = _matches(selector, CATALOGUE)
        if not matched:
            raise UnknownSelector(f"unknown rule selector {selector.strip()!r}")
        enabled.difference_update(matched)
    return frozenset(enabled)
