"""Version specifiers as the shared environment sees them: the environments markers are
evaluated in (the Python versions and platforms the package serves), and whether two
specifier sets admit a common version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version


def pinned_version(specifier: SpecifierSet) -> str | None:
    """The one version ``specifier`` admits: ``==V`` / ``===V`` (no wildcard), or a range
    closed on one version (``>=V,<=V``, which upstream writes for a pin too); else None."""
    specs = list(specifier)
    exact = [
        s
        for s in specs
        if s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
    ]
    if len(specs) == 1 and exact:
        return exact[0].version
    lower = [s.version for s in specs if s.operator == ">="]
    upper = [s.version for s in specs if s.operator == "<="]
    candidates = [s.version for s in exact] or [v for v in lower if v in upper]
    for version in candidates:
        try:
            if all(s.contains(version, prereleases=True) for s in specs):
                return version
        except (InvalidSpecifier, InvalidVersion):
            return None
    return None


# Environments: markers are evaluated over the platforms and Python versions the package serves.

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
_PLATFORMS = (
    {
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    },
    {
        "sys_platform": "win32",
        "os_name": "nt",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
    },
    {
        "sys_platform": "darwin",
        "os_name": "posix",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
    },
)


def environments() -> list[dict[str, str]]:
    envs = []
    for python in PYTHON_VERSIONS:
        for platform in _PLATFORMS:
            envs.append(
                {
                    "implementation_name": "cpython",
                    "implementation_version": f"{python}.0",
                    "platform_python_implementation": "CPython",
                    "platform_release": "",
                    "platform_version": "",
                    "python_full_version": f"{python}.0",
                    "python_version": python,
                    "extra": "",
                    **platform,
                }
            )
    return envs


ENVIRONMENTS = environments()


def describe_env(env: Mapping[str, str]) -> str:
    return f"Python {env['python_version']} on {env['sys_platform']}"


@lru_cache(maxsize=4096)
def _marker_value(marker: str, index: int) -> bool:
    try:
        return Marker(marker).evaluate(dict(ENVIRONMENTS[index]))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, InvalidVersion):
        return True  # unknown: assume it applies (a marker we cannot judge never hides a check)


def applies(marker: Marker | None, index: int) -> bool:
    return True if marker is None else _marker_value(str(marker), index)


def active_envs(marker: Marker | None) -> frozenset[int]:
    return frozenset(i for i in range(len(ENVIRONMENTS)) if applies(marker, i))


# ---------------------------------------------------------------------------------------------
# Version sets.


def _safe_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _candidates(specs: Iterable[Specifier]) -> list[str]:
    """Versions that, if any version satisfies every spec, include one that does."""
    out: list[str] = ["0", "0.0.0.0.1", "99999"]
    for spec in specs:
        text = spec.version
        if text.endswith(".*"):
            text = text[:-2]
        version = _safe_version(text)
        if version is None:
            out.append(text)
            continue
        release = ".".join(str(p) for p in version.release)
        out.extend([str(version), release, release + ".0.0.0.1", release + ".0.0.0.2"])
        if spec.operator == "~=" and len(version.release) >= 2:
            prefix = version.release[:-1]
            out.append(".".join(str(p) for p in (*prefix[:-1], prefix[-1] + 1)))
    return out


def intersects(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether some version satisfies both sets (pre-releases allowed).

    Exact for pins (the pin is tested against the other set); for two ranges a version is
    searched among the bounds and points just above them, which decides every realistic case.
    """
    for spec_set, other in ((a, b), (b, a)):
        pin = pinned_version(spec_set)
        if pin is not None:
            try:
                return other.contains(pin, prereleases=True) if str(other) else True
            except (InvalidSpecifier, InvalidVersion):
                return True
    if not str(a) or not str(b):
        return True
    combined = list(a) + list(b)
    for candidate in _candidates(combined):
        try:
            if all(spec.contains(candidate, prereleases=True) for spec in combined):
                return True
        except (InvalidSpecifier, InvalidVersion):
            return True
    return False


def same_specifier(a: SpecifierSet, b: SpecifierSet) -> bool:
    return {str(s) for s in a} == {str(s) for s in b}
