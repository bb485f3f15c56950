"""The methods of the folder's model classes, as the classes really have them.

One way for every rule to ask: ``Mro.lookup(name)`` (through ``resolved`` / ``local_defs``
here) gives the definition Python would find along the C3 MRO, inherited ones included, and
``view.definition(owner, method)`` its AST node, so no rule looks for a definition again. A
definition the MRO finds first that is abstract (``@abstractmethod``, a stub, ``raise
NotImplementedError``) does not provide the method. When a base cannot be resolved inside the
package, the rules stay silent.

``MethodRule.report_method`` reports at the definition when it lies in the folder, else at the
class that inherits it (a finding must land on a file of the folder).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from qaihm_lint.diagnostics import Applicability, Location
from qaihm_lint.fixers.edits import fix_from_cst
from qaihm_lint.index import ClassInfo, MethodInfo, Mro, Param, is_framework_code
from qaihm_lint.rules.base import FolderRule
from qaihm_lint.rules.model_class._analysis import Checked, ModelAnalysis, analyse, is_local
from qaihm_lint.sources import SourceFile

if TYPE_CHECKING:
    import libcst


class AnalysedRule(FolderRule):
    """A folder rule about the folder's model classes: their analysis (resolved through the
    index), and the folder's own files by path."""

    needs_index: ClassVar[bool] = True

    def analysis(self) -> ModelAnalysis:
        return analyse(self.ctx)

    def source_of(self, path: str) -> SourceFile | None:
        file = Path(path)
        if file.parent != self.folder.path:
            return None
        return self.folder.file(file.name)


def _head(
    source: SourceFile, row: int, keyword: str, name: str
) -> tuple[Location, Location] | None:
    """The ``def name`` / ``class name`` words on ``row`` (not the decorators or the body)."""
    column = source.line(row).find(keyword + name)
    if column < 0:
        return None
    return Location(row, column + 1), Location(row, column + 1 + len(keyword) + len(name))


def definition_span(
    source: SourceFile, cls: ClassInfo, name: str = ""
) -> tuple[Location, Location]:
    """Where a finding about ``cls`` lands: the head of its own definition of ``name`` when it
    has one (a whole ``name = staticmethod(...)`` assignment), else its ``class`` head."""
    method = cls.methods.get(name) if name else None
    node: ast.AST | None = method.node if method is not None else cls.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        keyword = "class " if isinstance(node, ast.ClassDef) else "def "
        head = _head(source, node.lineno, keyword, node.name)
        if head is not None:
            return head
    if node is not None:
        return source.node_span(node)
    return Location(cls.lineno, cls.col + 1), Location(cls.lineno, cls.col + 1)


class MethodRule(AnalysedRule):
    """Reports against the definition when it is in the folder, else at the class."""

    def report_method(
        self,
        checked: ClassInfo,
        owner: ClassInfo,
        method: MethodInfo | None,
        name: str,
        message: str,
        fix_transform: Callable[[libcst.Module], libcst.Module] | None = None,
        applicability: Applicability = Applicability.SAFE,
        fix_message: str = "",
    ) -> None:
        target = owner if method is not None and self.source_of(owner.path) else checked
        source = self.source_of(target.path)
        if source is None:
            # Neither in the folder (a component from _shared): report at the model class.
            model = self.analysis().model
            source = self.source_of(model.path) if model is not None else None
            if model is None or source is None:
                return
            target = model
        start, end = definition_span(source, target, name if target is owner else "")
        fix = None
        if fix_transform is not None and target is owner:
            fix = fix_from_cst(source, fix_transform, fix_message, applicability)
        self.report(source, message, start=start, end=end, fix=fix, anchor=f"{target.name}.{name}")


def provided(mro: Mro, name: str, *, allow_framework: bool = True) -> bool:
    """The class has a concrete ``name`` (``allow_framework=False``: one of its own, not the
    framework's generic one)."""
    found = mro.lookup(name)
    if found is None:
        return False
    if not allow_framework and is_framework_code(found.owner):
        return False
    return found.method.concrete


def local_defs(analysis: ModelAnalysis, name: str) -> Iterator[tuple[ClassInfo, Mro, MethodInfo]]:
    """Definitions of ``name`` in the folder's own model classes."""
    for cls, mro in analysis.local_models:
        method = cls.methods.get(name)
        if method is not None and is_local(analysis.view, cls.path):
            yield cls, mro, method


def resolved(
    analysis: ModelAnalysis, name: str, *, pytorch_only: bool = True
) -> Iterator[tuple[Checked, ClassInfo, MethodInfo]]:
    """``name`` as each checked class has it (its owner and definition), unless only the
    framework defines it. ``pytorch_only``: a collection's own methods are not asked for."""
    for checked in analysis.checked:
        if pytorch_only and checked.role == "collection" and name != "from_pretrained":
            continue
        found = checked.order.lookup(name)
        if found is None or is_framework_code(found.owner):
            continue
        yield checked, found.owner, found.method


def required_params(params: tuple[Param, ...]) -> list[Param]:
    return [p for p in params if not p.has_default and p.kind not in ("vararg", "varkw")]


def collection_overrides(analysis: ModelAnalysis) -> bool:
    """The collection defines its own from_pretrained (not the framework's generic one, which
    calls each component's from_pretrained without positional arguments)."""
    if analysis.mro is None:
        return False
    found = analysis.mro.lookup("from_pretrained")
    return found is not None and not is_framework_code(found.owner) and found.method.concrete
