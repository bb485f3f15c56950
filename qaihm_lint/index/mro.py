"""Method resolution order (C3) of summarised classes, and the framework's model roots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from qaihm_lint.index.model import ClassInfo, MethodInfo
from qaihm_lint.workspace import PACKAGE_NAME

# The framework's model roots, by class name, when defined in the package's utils/ (both layouts).
# The framework's model roots, by class name, when defined in the package's utils/ (both layouts).
PYTORCH_ROOTS = frozenset({"BaseModel", "PytorchWorkbenchModel"})
COLLECTION_ROOTS = frozenset(
    {
        "CollectionModel",
        "PretrainedCollectionModel",
        "PrecompiledCollectionModel",
        "WorkbenchModelCollection",
        "PrecompiledWorkbenchModelCollection",
        "MultiGraphCollectionModel",
        "MultiGraphWorkbenchModelCollection",
    }
)
PRECOMPILED_ROOTS = frozenset({"BasePrecompiledModel", "PrecompiledWorkbenchModel"})
OTHER_ROOTS = frozenset({"WorkbenchModel", "HubModel", "BaseMultiGraphModel", "MultiGraphModel"})
FRAMEWORK_ROOTS = PYTORCH_ROOTS | COLLECTION_ROOTS | PRECOMPILED_ROOTS | OTHER_ROOTS


class Definition(NamedTuple):
    """A method and the class that defines it (``MethodInfo.node`` is its definition)."""

    owner: ClassInfo
    method: MethodInfo


ModelKind = Literal["pytorch", "collection", "precompiled", "other"]


@dataclass
class Mro:
    classes: list[ClassInfo]  # in method resolution order, the class itself first
    # Qualified names of bases outside the package (torch.nn.Module, typing.Protocol).
    external: list[str]
    # Some base could not be resolved (a name not found, a dynamic expression).
    unresolved: list[str]

    def framework_roots(self) -> list[ClassInfo]:
        return [c for c in self.classes if is_framework(c)]

    @property
    def kind(self) -> ModelKind | None:
        names = {c.name for c in self.framework_roots()}
        if not names:
            return None
        if (
            names & PRECOMPILED_ROOTS
            or "PrecompiledCollectionModel" in names
            or "PrecompiledWorkbenchModelCollection" in names
        ):
            return "precompiled"
        if names & COLLECTION_ROOTS:
            return "collection"
        if names & PYTORCH_ROOTS:
            return "pytorch"
        return "other"

    def lookup(self, method: str) -> Definition | None:
        """The method as the class really has it: the definition Python would find, in the
        first class of the MRO that defines it (inherited ones included)."""
        for cls in self.classes:
            found = cls.methods.get(method)
            if found is not None:
                return Definition(cls, found)
        return None


def is_framework(cls: ClassInfo) -> bool:
    return cls.name in FRAMEWORK_ROOTS and f".{PACKAGE_NAME}.utils." in f".{cls.module}."


_MODELS = f"{PACKAGE_NAME}.models."


def is_framework_code(cls: ClassInfo) -> bool:
    """Defined by the package's framework, not by model code: in ``utils/`` or a module directly
    under ``models/`` (``protocols.py``, ``common.py``), not in a model folder, ``_shared/`` or
    ``templates/``. What such a class defines is generic behaviour, never a model's choice."""
    module = cls.module
    if module.startswith(_MODELS):
        return "." not in module[len(_MODELS) :]
    return module.startswith(PACKAGE_NAME + ".") and module != f"{PACKAGE_NAME}.models"


def c3(sequences: list[list[str]]) -> list[str] | None:
    result: list[str] = []
    seqs = [list(s) for s in sequences if s]
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in other[1:] for other in seqs):
                break
        else:
            return None
        result.append(head)
        for seq in seqs:
            if seq and seq[0] == head:
                seq.pop(0)
        seqs = [s for s in seqs if s]
    return result
