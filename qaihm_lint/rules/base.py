"""What a rule is: a small class with its code, documentation, examples and checks.

Three kinds, by what they look at:

* ``FolderRule.check()`` sees a whole model folder (which files exist, YAML, requirements);
* ``PythonRule`` has ``visit_<ast node type>`` / ``leave_<ast node type>`` methods, called during
  the one walk the engine makes over each hand-written Python file of the folder;
* ``PackageRule.check_package()`` runs once per package over every folder (cross-model checks).

Each rule carries VALID and INVALID examples. They are its documentation
(``qaihm-lint --explain``) and its first tests: ``tests/test_rule_examples.py`` runs every one.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from qaihm_lint.catalogue import CATALOGUE, CODE_OF_CLASS, Kind
from qaihm_lint.context import ModelContext, PackageContext
from qaihm_lint.diagnostics import FILE_START, Applicability, Diagnostic, Fix, Location, Severity
from qaihm_lint.sources import SourceFile
from qaihm_lint.workspace import Layout, ModelFolder

if TYPE_CHECKING:
    import libcst


@dataclass(frozen=True)
class Example:
    """A small model folder that shows a rule's behaviour.

    ``files`` override the files of a complete, clean model folder (see ``qaihm_lint.testing``);
    a value of ``None`` deletes that file. ``package_files`` are paths relative to the
    ``qai_hub_models`` package (``global_requirements.txt``, ``models/_shared/...``).
    """

    files: Mapping[str, str | None]
    # The file an INVALID example must be flagged in.
    path: str = "model.py"
    # INVALID examples of fixable rules: the text of ``path`` once every fix was applied.
    fixed: str | None = None
    package_files: Mapping[str, str] = field(default_factory=dict)
    layout: Layout = Layout.INFO
    # Extra models for cross-model examples: {model_id: {file: text}}.
    other_models: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    # Other rules to enable beside the example's own (for rules about rules, like QAI001).
    also_select: tuple[str, ...] = ()
    note: str = ""

    @property
    def source(self) -> str | None:
        return self.files.get(self.path)


def example(
    source: str | None = None,
    *,
    path: str = "model.py",
    files: Mapping[str, str | None] | None = None,
    **kwargs: Any,
) -> Example:
    """An example folder: ``files`` over the clean baseline, with ``source`` as ``path``."""
    merged: dict[str, str | None] = dict(files or {})
    if source is not None:
        merged[path] = source
    return Example(files=merged, path=path, **kwargs)


# Two names for one constructor, so that a rule's examples read as what they are.
Valid = Invalid = example


class Rule:
    # Stamped from the rule's row of the catalogue (see ``__init_subclass__``): never written
    # in the class itself.
    code: ClassVar[str]
    slug: ClassVar[str]
    kind: ClassVar[Kind]
    summary: ClassVar[str]  # one line: what it checks
    why: ClassVar[str]  # why it matters (the guide's reason)
    severity: ClassVar[Severity] = Severity.ERROR
    enabled_by_default: ClassVar[bool] = True
    # None: no fix. Otherwise the strongest applicability the rule ever offers, and in words
    # when it is offered (``--explain`` prints it).
    fix_applicability: ClassVar[Applicability | None] = None
    fix_note: ClassVar[str] = ""
    layouts: ClassVar[frozenset[Layout]] = frozenset(Layout)
    valid: ClassVar[Sequence[Example]] = ()
    invalid: ClassVar[Sequence[Example]] = ()
    # Rules that consult ``ctx.index`` (inherited classes): the engine builds it before forking.
    needs_index: ClassVar[bool] = False
    # Rules run by the engine itself (syntax errors, noqa bookkeeping, internal errors).
    builtin: ClassVar[bool] = False
    # Rules whose findings come from --deep's runtime stages, not from the static engine.
    runtime: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        module = cls.__module__.removeprefix(f"{__package__}.")
        code = CODE_OF_CLASS.get(f"{module}:{cls.__qualname__}")
        if code is not None:
            entry = CATALOGUE[code]
            cls.code, cls.slug, cls.kind = code, entry.slug, entry.kind
            cls.enabled_by_default = entry.enabled_by_default
            cls.builtin = entry.kind == "builtin"
            cls.runtime = entry.kind == "runtime"

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    @classmethod
    def diagnostic(
        cls,
        path: Path,
        message: str,
        *,
        model_id: str | None,
        start: Location = FILE_START,
        end: Location | None = None,
        fix: Fix | None = None,
        anchor: str = "",
    ) -> Diagnostic:
        """A finding of this rule; the one place a rule's identity is stamped on a finding."""
        return Diagnostic(
            code=cls.code,
            rule=cls.slug,
            message=message,
            severity=cls.severity,
            path=path,
            start=start,
            end=end or start,
            model_id=model_id,
            fix=fix,
            anchor=anchor,
        )

    def _add(
        self,
        model_id: str,
        where: SourceFile | Path,
        message: str,
        start: Location,
        end: Location | None,
        fix: Fix | None,
        anchor: str | None,
    ) -> None:
        path = where.path if isinstance(where, SourceFile) else where
        if anchor is None:
            anchor = where.line(start.row).strip() if isinstance(where, SourceFile) else ""
        self.diagnostics.append(
            self.diagnostic(
                path, message, model_id=model_id, start=start, end=end, fix=fix, anchor=anchor
            )
        )


class ModelRule(Rule):
    """A rule that checks one model folder at a time (``ctx.folder``)."""

    # Also check shared model code (``models/_shared/<x>``, ``models/templates/<x>``): rules
    # about code, or requirements, themselves rather than about a model folder's duties.
    shared_code: ClassVar[bool] = False

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__()
        self.ctx = ctx

    @property
    def folder(self) -> ModelFolder:
        return self.ctx.folder

    def report(
        self,
        where: SourceFile | Path,
        message: str,
        *,
        start: Location = FILE_START,
        end: Location | None = None,
        fix: Fix | None = None,
        anchor: str | None = None,
    ) -> None:
        self._add(self.folder.model_id, where, message, start, end, fix, anchor)

    def report_node(
        self,
        source: SourceFile,
        node: ast.AST,
        message: str,
        *,
        fix: Fix | None = None,
        anchor: str | None = None,
    ) -> None:
        start, end = source.node_span(node)
        self.report(source, message, start=start, end=end, fix=fix, anchor=anchor)


class FolderRule(ModelRule):
    def check(self) -> None:
        """Inspect ``self.folder`` and ``self.report(...)`` findings."""
        raise NotImplementedError


class PythonRule(ModelRule):
    # Glob patterns of the folder's file names this rule walks ("*.py": every hand-written one).
    files: ClassVar[tuple[str, ...]] = ("*.py",)
    # Substrings without which the rule cannot find anything in a file: a file that contains
    # none of them is not walked for this rule (most files of a cold run, for narrow rules).
    triggers: ClassVar[tuple[str, ...]] = ()
    source: SourceFile
    ancestors: list[ast.AST]

    @classmethod
    def applies_to(cls, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in cls.files)

    @classmethod
    def triggered_by(cls, text: str) -> bool:
        return not cls.triggers or any(trigger in text for trigger in cls.triggers)

    def begin_file(self) -> None:
        """Called before the walk of each file."""

    def end_file(self) -> None:
        """Called after the walk of each file."""

    def report_here(
        self, node: ast.AST, message: str, *, fix: Fix | None = None, anchor: str | None = None
    ) -> None:
        self.report_node(self.source, node, message, fix=fix, anchor=anchor)

    def cst_fix(
        self,
        transform: Callable[[libcst.Module], libcst.Module],
        message: str,
        applicability: Applicability = Applicability.SAFE,
    ) -> Fix | None:
        """A fix that rewrites the current file with a libcst transform, as one minimal edit."""
        from qaihm_lint.fixers.edits import fix_from_cst

        return fix_from_cst(self.source, transform, message, applicability)


class PackageRule(Rule):
    """Runs once per package, after every folder was checked, in the parent process."""

    def __init__(self, ctx: PackageContext) -> None:
        super().__init__()
        self.package_ctx = ctx

    def check_package(self) -> None:
        raise NotImplementedError

    def report_for(
        self,
        model_id: str,
        where: SourceFile | Path,
        message: str,
        *,
        start: Location = FILE_START,
        end: Location | None = None,
        fix: Fix | None = None,
    ) -> None:
        self._add(model_id, where, message, start, end, fix, None)
