"""What a run checks: the settings and the rules they enable, split by kind.

Knowing which codes are enabled, and which of them are cross-model, needs only the catalogue;
the rule classes are imported when a folder is really checked (a cached run never needs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from qaihm_lint import rule_selectors
from qaihm_lint.catalogue import CATALOGUE, Kind
from qaihm_lint.config import Settings
from qaihm_lint.rules import rule
from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule, Rule
from qaihm_lint.rules.meta import InternalError


@dataclass(frozen=True)
class Plan:
    """The enabled rules and the settings they read. Picklable."""

    settings: Settings
    enabled: frozenset[str]

    def _enabled_of(self, kind: Kind) -> list[type[Rule]]:
        """The enabled rules of one kind, in code order (only their modules are imported)."""
        return [rule(c) for c, e in CATALOGUE.items() if c in self.enabled and e.kind == kind]

    @cached_property
    def folder_rules(self) -> list[type[FolderRule]]:
        return [r for r in self._enabled_of("folder") if issubclass(r, FolderRule)]

    @cached_property
    def python_rules(self) -> list[type[PythonRule]]:
        return [r for r in self._enabled_of("python") if issubclass(r, PythonRule)]

    @cached_property
    def package_rules(self) -> list[type[PackageRule]]:
        return [r for r in self._enabled_of("package") if issubclass(r, PackageRule)]

    @cached_property
    def package_codes(self) -> frozenset[str]:
        """Enabled codes of cross-model rules (known without importing any rule module)."""
        return frozenset(c for c in self.enabled if CATALOGUE[c].kind == "package")

    @property
    def needs_index(self) -> bool:
        return any(
            rule.needs_index
            for rule in (*self.folder_rules, *self.python_rules, *self.package_rules)
        )

    def ignores(self, model_id: str, code: str) -> bool:
        """Whether the per-model-ignores of ``model_id`` switch ``code`` off (``--ignore`` has
        already been applied to ``enabled``)."""
        return rule_selectors.matches_any(self.settings.ignored_for_model(model_id), code)

    @property
    def reports_crashes(self) -> bool:
        """A rule that crashed did not check anything: that is said even under a narrow
        ``--select``; only an explicit ``--ignore`` of QAI002 silences it."""
        return not rule_selectors.matches_any(self.settings.ignore, InternalError.code)


def make_plan(settings: Settings) -> Plan:
    return Plan(
        settings,
        rule_selectors.resolve(settings.select, settings.ignore, settings.extend_select),
    )
