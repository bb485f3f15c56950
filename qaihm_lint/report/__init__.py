"""Reporters: one module per ``--output-format``, each ``render(ReportContext) -> str``."""

from __future__ import annotations

import importlib
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.config import OUTPUT_FORMATS
from qaihm_lint.diagnostics import Applicability, Diagnostic, Severity

FAMILIES = {
    "QAI0": "linter",
    "QAI1": "files",
    "QAI2": "model-class",
    "QAI3": "requirements",
    "QAI4": "source-as-root",
    "QAI5": "gpu",
    "QAI6": "tests",
    "QAI7": "metadata",
    "QAI8": "deep",
}


# C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional
# overrides: text a model (its exception, a YAML key, a folder name) puts in a message must not
# start a new line in a log (a GitHub `::error` workflow command), recolour a terminal or reorder
# what a reviewer reads, and XML 1.0 forbids most of them outright.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with each control character written as its Python escape (``\\x1b``), so it
    shows what it is and does nothing. Tabs stay; newlines stay only when ``newlines`` is true
    (a multi-line block the format indents or escapes itself), else they become ``\\n``."""
    if not newlines:
        text = text.replace("\r\n", "\n").replace("\r", "\\r").replace("\n", "\\n")
    else:
        text = text.replace("\r\n", "\n").replace("\r", "\\r")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def family_of(code: str) -> str:
    return FAMILIES.get(code[:4], code[:4])


@dataclass(frozen=True)
class DeepCase:
    model_id: str
    name: str  # "deep.trace", "deep.compile.encoder@Samsung Galaxy S25 (Family)"
    status: str  # ok, fail, skip, timeout, crash
    message: str = ""


@dataclass
class ReportContext:
    diagnostics: list[Diagnostic]
    # The model folders checked; when there are none, ``nothing_checked`` says why.
    model_ids: list[str] = field(default_factory=list)
    nothing_checked: str = ""
    # Folders of shared model code (models/_shared/*, models/templates/*) checked besides the
    # models: ``len(Workspace.shared)``.
    shared_checked: int = 0
    enabled: frozenset[str] = frozenset()
    cwd: Path = field(default_factory=Path.cwd)
    # The repository the findings are in: the formats code hosts read (SARIF, github) name
    # files relative to it, whatever the working directory. None: relative to ``cwd``.
    root: Path | None = None
    baselined: int = 0  # findings the baseline hid
    show_fixes: bool = False
    fixed_findings: list[Diagnostic] = field(default_factory=list)
    fixed: int = 0  # findings the fixes removed
    fixed_warnings: int = 0  # how many of those were warnings
    statistics: bool = False
    unsafe_fixes: bool = False  # whether unsafe fixes count as fixable
    max_warnings: int | None = None  # None: warnings never fail the run
    color: bool = False
    # Deep-stage verdicts for junit, passes included.
    deep_cases: list[DeepCase] = field(default_factory=list)
    # Text that stands in for files on disk (a buffer piped on stdin): excerpts quote it.
    buffers: Mapping[Path, bytes] = field(default_factory=dict)
    _lines: dict[Path, list[str]] = field(default_factory=dict, repr=False)

    def display_path(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.cwd)
        except ValueError:  # another drive on Windows
            return str(path)

    def posix_path(self, path: Path) -> str:
        return Path(self.display_path(path)).as_posix()

    def repo_path(self, path: Path) -> str:
        """``path`` relative to the repository root, in POSIX form (what code scanning and
        workflow annotations attach to)."""
        if self.root is not None:
            try:
                return path.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return self.posix_path(path)

    def source_line(self, path: Path, row: int) -> str | None:
        if path not in self._lines:
            try:
                if path in self.buffers:
                    data = self.buffers[path]
                elif not path.is_file():  # a named pipe would block the report forever
                    raise FileNotFoundError(path)
                else:
                    data = path.read_bytes()
                text = data.decode("utf-8-sig", errors="replace")
                self._lines[path] = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            except OSError:
                self._lines[path] = []
        lines = self._lines[path]
        return lines[row - 1] if 0 < row <= len(lines) else None

    def counts(self) -> Counter[str]:
        return Counter(d.code for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def errors(self) -> int:
        return len(self.diagnostics) - self.warnings

    def too_many_warnings(self) -> bool:
        """ESLint's --max-warnings: warnings fail a run only past the limit the user set."""
        return self.max_warnings is not None and self.warnings > self.max_warnings

    def fails(self) -> bool:
        """Whether the findings make the run exit 1: any error, or too many warnings."""
        return self.errors > 0 or self.too_many_warnings()


def fix_marker(diagnostic: Diagnostic) -> str:
    """`` [*]`` after the code when ``--fix`` repairs the finding (ruff's convention)."""
    fix = diagnostic.fix
    return " [*]" if fix is not None and fix.applicability.value == "safe" else ""


def renderer(name: str) -> Callable[[ReportContext], str]:
    if name not in OUTPUT_FORMATS:
        raise ValueError(name)
    module = importlib.import_module(f"{__name__}.{name}_format")
    render: Callable[[ReportContext], str] = module.render
    return render


@dataclass(frozen=True)
class Statistic:
    code: str
    name: str  # the rule's slug
    count: int
    safe_count: int  # findings with a safe fix
    fix_count: int  # findings with any fix
    fixable_count: int  # findings this run's --fix would repair (unsafe ones with the flag)


def statistics(ctx: ReportContext) -> list[Statistic]:
    """Counts per code, most frequent first."""
    from qaihm_lint.catalogue import CATALOGUE as rules

    rows = []
    for code, count in sorted(ctx.counts().items(), key=lambda item: (-item[1], item[0])):
        fixes = [d.fix for d in ctx.diagnostics if d.code == code and d.fix is not None]
        safe = sum(1 for fix in fixes if fix.applicability is Applicability.SAFE)
        rows.append(
            Statistic(
                code=code,
                name=rules[code].slug if code in rules else "",
                count=count,
                safe_count=safe,
                fix_count=len(fixes),
                fixable_count=len(fixes) if ctx.unsafe_fixes else safe,
            )
        )
    return rows


def statistics_table(ctx: ReportContext) -> str:
    # [*]: every finding of the code has a safe fix; [-]: some have a fix (or only unsafe ones).
    lines = []
    for row in statistics(ctx):
        marker = "[*]" if row.safe_count == row.count else "[-]" if row.fix_count else "   "
        lines.append(f"{row.count:>5}\t{row.code}\t{marker} {row.name}")
    return "\n".join(lines) + ("\n" if lines else "")
