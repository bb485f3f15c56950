"""The checked package's own declared dependencies, as upstream's CI installs them.

Upstream's CI installs the package itself (``pip install -e .`` or the wheel), so an
environment gets the package's declared dependencies as well as its requirement files. They
are not always the same list: 0.65.0's wheel requires ``qai_hub_models_cli==0.65.0``, which
no requirements.txt names. Read without installing or importing anything:

- an unpacked or installed wheel: ``qai_hub_models-<V>.dist-info/METADATA`` beside the package
  (its ``Requires-Dist`` lines, extras left out);
- a source checkout: ``pyproject.toml``'s ``[project] dependencies`` when they are static.

A checkout whose ``setup.py`` reads ``requirements.txt`` declares nothing more than that file,
which the environments install anyway.
"""

from __future__ import annotations

import email.parser
import sys
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from qaihm_lint import requirements_file as rf
from qaihm_lint.sources import SourceFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]


def declared_requirements(
    package_root: Path, markers: Mapping[str, str]
) -> tuple[str, list[str]] | None:
    """(where they were read, the requirement strings) of the package at ``package_root``.

    None when the tree declares nothing beyond its requirement files. Requirements that only
    an extra asks for, or whose marker does not hold on this interpreter, are left out.
    """
    found = _from_metadata(package_root) or _from_pyproject(package_root)
    if found is None:
        return None
    label, raw = found
    kept: list[str] = []
    for text in raw:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            kept.append(text)  # the installer reports it in its own words
            continue
        if requirement.marker is not None:
            try:
                if not requirement.marker.evaluate({**markers, "extra": ""}):
                    continue
            except Exception:  # an undefined variable: keep it, the installer judges it
                pass
        kept.append(str(requirement))
    return label, kept


def declared_source(package_root: Path, markers: Mapping[str, str]) -> SourceFile | None:
    """The declared requirements as a requirements file (one per line), for ``relax``."""
    found = declared_requirements(package_root, markers)
    if found is None or not found[1]:
        return None
    label, lines = found
    return SourceFile(Path(label), data="".join(f"{line}\n" for line in lines).encode())


def _from_metadata(package_root: Path) -> tuple[str, list[str]] | None:
    name = rf.normalize(package_root.name).replace("-", "_")
    candidates = sorted(package_root.parent.glob("*.dist-info"))
    for info in candidates:
        if rf.normalize(info.name.split("-", 1)[0]).replace("-", "_") != name:
            continue
        metadata = info / "METADATA"
        try:
            text = metadata.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        message = email.parser.Parser().parsestr(text, headersonly=True)
        return str(metadata), [str(value) for value in message.get_all("Requires-Dist") or []]
    return None


def _from_pyproject(package_root: Path) -> tuple[str, list[str]] | None:
    pyproject = package_root.parent / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    dependencies = project.get("dependencies")
    if not isinstance(dependencies, list) or "dependencies" in project.get("dynamic", []):
        return None
    return str(pyproject), [str(item) for item in dependencies]
