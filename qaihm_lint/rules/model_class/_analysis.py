"""What the model-code rules share: the folder's model class, resolved once per folder.

``analyse(ctx)`` finds the class a user calls (the ``Model`` export of ``__init__.py``, else the
model subclass defined in model.py), its MRO through the repository index, and the classes the
method rules check (the model itself, or a collection's components). Memoised in
``ctx.memo`` so every rule of the folder shares one resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qaihm_lint.index import ClassInfo, FolderView, MethodInfo, Mro, is_framework
from qaihm_lint.sources import SourceError

if TYPE_CHECKING:
    from qaihm_lint.context import ModelContext

_MEMO_KEY = "model-analysis"


@dataclass
class Checked:
    """A class whose required methods are checked, and why."""

    cls: ClassInfo
    order: Mro
    role: str  # "model", "component" or "collection"


@dataclass
class ModelAnalysis:
    view: FolderView
    model: ClassInfo | None = None
    mro: Mro | None = None
    # Classes whose required methods are checked (none when the resolution left the package
    # before reaching a framework base: the rules stay silent).
    checked: list[Checked] = field(default_factory=list)
    # Model classes (any framework subclass) defined in the folder's own files.
    local_models: list[tuple[ClassInfo, Mro]] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        return None if self.mro is None else self.mro.kind


def display_path(view: FolderView, path: str) -> str:
    """``qai_hub_models/models/yolov7/model.py``: the path from the package's parent."""
    root = view.package_root
    if root is not None:
        try:
            return Path(path).relative_to(root.parent).as_posix()
        except ValueError:
            pass
    folder = view.folder.path
    try:
        return f"{folder.name}/{Path(path).relative_to(folder).as_posix()}"
    except ValueError:
        return path


def where(view: FolderView, cls: ClassInfo, method: MethodInfo | None = None) -> str:
    line = method.lineno if method is not None else cls.lineno
    return f"{display_path(view, cls.path)}:{line}"


def is_local(view: FolderView, path: str) -> bool:
    return Path(path).parent == view.folder.path


def analyse(ctx: ModelContext) -> ModelAnalysis:
    cached = ctx.memo.get(_MEMO_KEY)
    if isinstance(cached, ModelAnalysis):
        return cached
    analysis = _analyse(ctx)
    ctx.memo[_MEMO_KEY] = analysis
    return analysis


def _local_classes(view: FolderView) -> list[ClassInfo]:
    found: list[ClassInfo] = []
    for source in view.folder.python_files():
        try:
            source.tree  # noqa: B018 - a syntax error is QAI000's to report
        except SourceError:
            continue
        module = view.module(view.module_of_file(source.path.name))
        if module is not None:
            found.extend(module.classes.values())
    return found


def _analyse(ctx: ModelContext) -> ModelAnalysis:
    view = ctx.view
    analysis = ModelAnalysis(view)
    local = _local_classes(view)
    for cls in local:
        mro = view.mro(cls)
        if mro.kind is not None and not is_framework(cls):
            analysis.local_models.append((cls, mro))

    model: ClassInfo | None = None
    if ctx.folder.has("__init__.py"):
        model = view.resolve_class(view.prefix, "Model")
    if model is None:
        in_model_py = [(c, m) for c, m in analysis.local_models if Path(c.path).name == "model.py"]
        used_as_base = {b.qualname for _, m in in_model_py for b in m.classes[1:]}
        leaves = [(c, m) for c, m in in_model_py if c.qualname not in used_as_base]
        if len(leaves) == 1:
            model = leaves[0][0]
    if model is None:
        return analysis
    mro = view.mro(model)
    analysis.model, analysis.mro = model, mro
    if mro.kind is None:
        return analysis
    if mro.kind == "pytorch":
        analysis.checked.append(Checked(model, mro, "model"))
    elif mro.kind == "collection":
        analysis.checked.append(Checked(model, mro, "collection"))
        local_bases = {b.qualname for _, m in analysis.local_models for b in m.classes[1:]}
        for component in view.component_classes(model):
            if not model.components and component.qualname in local_bases:
                continue  # an annotation naming a base class the folder specialises
            component_mro = view.mro(component)
            if component_mro.kind == "pytorch":
                analysis.checked.append(Checked(component, component_mro, "component"))
    return analysis
