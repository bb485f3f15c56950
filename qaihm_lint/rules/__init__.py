"""The rule registry: every rule class, by code, in catalogue order.

A rule class is found through its catalogue row, and loaded (with its module) only when a run
needs it.
"""

from __future__ import annotations

import importlib
from functools import cache

from qaihm_lint.catalogue import CATALOGUE
from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule, Rule

__all__ = ["CATALOGUE", "FolderRule", "PackageRule", "PythonRule", "Rule", "all_rules", "rule"]

_BASE_OF_KIND: dict[str, type[Rule]] = {
    "folder": FolderRule,
    "python": PythonRule,
    "package": PackageRule,
}


@cache
def rule(code: str) -> type[Rule]:
    """The class of rule ``code``, imported from the module its catalogue row names."""
    entry = CATALOGUE[code]
    found = getattr(importlib.import_module(f"{__name__}.{entry.module}"), entry.class_name)
    if not (isinstance(found, type) and issubclass(found, Rule)) or found.code != code:
        raise RuntimeError(f"catalogue row {code} names {entry.rule}, which is not its rule class")
    base = _BASE_OF_KIND.get(entry.kind, Rule)
    if not issubclass(found, base) or any(
        issubclass(found, other) for kind, other in _BASE_OF_KIND.items() if kind != entry.kind
    ):
        raise RuntimeError(f"{entry.rule} is not a {entry.kind} rule, as the catalogue says")
    return found


@cache
def all_rules() -> dict[str, type[Rule]]:
    """Every rule class by code (imports every rule module)."""
    return {code: rule(code) for code in CATALOGUE}
