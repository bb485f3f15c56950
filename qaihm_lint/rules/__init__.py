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
    "all_rules",
]


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
