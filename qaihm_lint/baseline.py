"""Baselines: adopt the linter on a tree with legacy findings without editing every file.

A finding's fingerprint is its code, its file (relative to the repository) and its anchor, the
stripped text of the flagged line or a symbol, never its line number: inserting or deleting lines
elsewhere does not make an old finding look new. Identical fingerprints are counted, so a second
identical violation added later is still reported.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.fixers.apply import WriteError, write_atomic

FORMAT = "qaihm-lint-baseline/1"


class BaselineError(Exception):
    pass


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return path.as_posix()


def fingerprint(diagnostic: Diagnostic, base: Path) -> tuple[str, str, str]:
    return (diagnostic.code, _relative(diagnostic.path, base), diagnostic.anchor)


def write(path: Path, diagnostics: Iterable[Diagnostic]) -> int:
    base = path.resolve().parent
    counts = Counter(fingerprint(d, base) for d in diagnostics)
    entries = [
        {"code": code, "file": file, "anchor": anchor, "count": count}
        for (code, file, anchor), count in sorted(counts.items())
    ]
    text = json.dumps({"format": FORMAT, "findings": entries}, indent=2, ensure_ascii=False)
    try:
        write_atomic(path, (text + "\n").encode("utf-8"))
    except (OSError, WriteError) as exc:
        raise BaselineError(f"cannot write the baseline: {exc}") from exc
    return sum(counts.values())


def load(path: Path) -> Counter[tuple[str, str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BaselineError(
            f"{path}: baseline file not found (create it with --write-baseline)"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path}: baseline is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc
    except RecursionError as exc:
        raise BaselineError(f"{path}: not a qaihm-lint baseline (nested too deep)") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f"{path}: not a qaihm-lint baseline (expected format {FORMAT!r})")
    counts: Counter[tuple[str, str, str]] = Counter()
    try:
        for entry in data["findings"]:
            counts[(entry["code"], entry["file"], entry["anchor"])] += int(entry["count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{path}: malformed baseline entry: {exc}") from exc
    return counts


def filter_new(diagnostics: Iterable[Diagnostic], path: Path) -> list[Diagnostic]:
    """The findings the baseline does not account for."""
    remaining = load(path)
    base = path.resolve().parent
    new = []
    for diagnostic in diagnostics:
        key = fingerprint(diagnostic, base)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            new.append(diagnostic)
    return new
