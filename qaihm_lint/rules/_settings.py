"""code-gen.yaml settings that more than one rule family reads (QAI302, QAI303, QAI702): the
file, the requirements flag and the settings that need it, and how upstream reads a boolean.

Upstream loads code-gen.yaml (and scorecard-config.yaml) with pydantic in lax mode, so a
boolean setting may be written ``true``, ``1`` or ``"yes"``; ``as_bool`` is that reading, in
one place, for every rule that asks whether a setting is on.
"""

from __future__ import annotations

from qaihm_lint.workspace import CODE_GEN_YAML

CODE_GEN = CODE_GEN_YAML
SCORECARD_CONFIG = "scorecard-config.yaml"
FLAG = "global_requirements_incompatible"
# Settings that upstream only accepts together with the flag: it is never stale when one is set.
CODE_GEN_FLAG_DEPENDENTS = ("pip_install_flags", "pip_pre_build_reqs")
# The manifest layout renamed them at 0.60; 0.59's manifests still hold the code-gen names.
MANIFEST_FLAG_DEPENDENTS = (
    "pre_pip_install_commands",
    "post_pip_install_commands",
    *CODE_GEN_FLAG_DEPENDENTS,
)

_TRUE_STRINGS = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE_STRINGS = frozenset({"0", "false", "no", "off", "f", "n"})


def as_bool(value: object) -> bool | None:
    """The boolean pydantic's lax mode reads from ``value``; None when it would refuse it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
    return None


def is_on(value: object) -> bool:
    """A boolean setting that upstream reads as true."""
    return as_bool(value) is True
