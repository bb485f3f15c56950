"""Rule selectors: the one grammar of ``--select``, ``--ignore`` and the config's ``select``,
``ignore`` and ``per-model-ignores`` (ruff's RuleSelector plays the same part).

A selector is ``ALL``, a rule code (``QAI301``), a prefix of codes (``QAI3``: the requirements
rules; ``QAI``), or a rule's slug (``unpinned-requirement``); codes and ``ALL`` in any case.
A selector that matches no rule is an error with the nearest codes and slugs as suggestions: a
misspelt ignore would otherwise silently leave the rule on.

``# noqa`` comments take exact codes only, as ruff's do (a directive should name what it
silences); :func:`suggest` serves their unknown codes too.

Reads the catalogue only: no rule module is imported.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from qaihm_lint.catalogue import CATALOGUE


class UnknownSelector(ValueError):
    """A selector that matches no rule (its message carries the suggestions)."""


@dataclass(frozen=True)
class Selector:
    text: str  # as written
    codes: frozenset[str]  # every code it matches
    # Names one rule (its code or slug): only such a selector enables a rule that is off by
    # default, so that `--select QAI4` does not switch on the opt-in QAI405.
    exact: bool

    def matches(self, code: str) -> bool:
        return code in self.codes


@cache
def parse(text: str) -> Selector:
    """The selector ``text`` stands for; UnknownSelector when it matches no rule."""
    wanted = text.strip()
    by_slug = {entry.slug: code for code, entry in CATALOGUE.items()}
    code = by_slug.get(wanted.lower(), wanted.upper())
    if code == "ALL":
        return Selector(text, frozenset(CATALOGUE), exact=False)
    matched = frozenset(c for c in CATALOGUE if code and c.startswith(code))
    if not matched:
        raise UnknownSelector(f"unknown rule selector {wanted!r}{suggest(wanted)}")
    return Selector(text, matched, exact=code in CATALOGUE)


def _typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``: a swapped
    pair of digits (QAI710 for QAI701) is one typo, not two."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        row = [i]
        for j, other in enumerate(b, start=1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def near_codes(wanted: str) -> list[str]:
    """The codes one typo away, else two; at most three."""
    by_distance: dict[int, list[str]] = {}
    for code in CATALOGUE:
        by_distance.setdefault(_typo_distance(wanted, code), []).append(code)
    for distance in (1, 2):
        if distance in by_distance:
            return sorted(by_distance[distance])[:3]
    return []


def suggest(text: str) -> str:
    """`` (did you mean 'QAI301'?)`` for the nearest codes and slugs, or ''."""
    wanted = text.strip()
    codes = near_codes(wanted.upper())
    all_slugs = [entry.slug for entry in CATALOGUE.values()]
    slugs = difflib.get_close_matches(wanted.lower(), all_slugs, n=1, cutoff=0.7)
    if not slugs and len(wanted) >= 4:
        # A slug's first word (`unpinned`) is too short for difflib to call it close.
        slugs = [slug for slug in all_slugs if wanted.lower() in slug][:2]
    near = [*codes, *slugs]
    if not near:
        return ""
    return " (did you mean " + " or ".join(repr(name) for name in near) + "?)"


def validate(selectors: Iterable[str]) -> None:
    """Raise UnknownSelector for the first selector that matches no rule."""
    for text in selectors:
        parse(text)


def matches_any(selectors: Iterable[str], code: str) -> bool:
    """Whether one of ``selectors`` (already validated) matches ``code``."""
    return any(parse(text).matches(code) for text in selectors)


def resolve(
    select: Iterable[str] | None, ignore: Iterable[str], extend_select: Iterable[str] = ()
) -> frozenset[str]:
    """The enabled codes: ``select`` (None: every rule on by default) and ``extend_select``,
    minus ``ignore``. A prefix enables the rules it covers that are on by default; an exact code
    or slug enables its rule either way."""
    enabled: set[str] = set()
    if select is None:
        enabled = {code for code, entry in CATALOGUE.items() if entry.enabled_by_default}
    for text in [*(select or ()), *extend_select]:
        selector = parse(text)
        enabled.update(
            code for code in selector.codes if selector.exact or CATALOGUE[code].enabled_by_default
        )
    for text in ignore:
        enabled.difference_update(parse(text).codes)
    return frozenset(enabled)
