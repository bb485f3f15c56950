"""The model class and its required methods (QAI102, QAI104, QAI201-QAI206, QAI703).

Methods are looked up the way Python does, along the C3 MRO through the repository index, so
a method inherited from ``models/_shared/`` (or ``templates/``) counts; a definition the MRO
finds first that is abstract (``@abstractmethod``, a stub, ``raise NotImplementedError``)
does not. When a base cannot be resolved inside the package, the rules stay silent.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from qaihm_lint.diagnostics import Applicability, Location, Severity
from qaihm_lint.index import ClassInfo, MethodInfo, Mro, Param, dotted
from qaihm_lint.rules._analysis import (
    Checked,
    ModelAnalysis,
    analyse,
    display_path,
    is_local,
    where,
)
from qaihm_lint.rules.base import FolderRule, Invalid, PythonRule, Valid
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout

if TYPE_CHECKING:
    import libcst

_SHARED_YOLO = """\
import torch

from qai_hub_models.utils.base_model import BaseModel


class Yolo(BaseModel):
    @classmethod
    def from_pretrained(cls, weights: str = "yolo.pt"):
        return cls()

    @staticmethod
    def get_input_spec(height: int = 640, width: int = 640):
        return {"image": ((1, 3, height, width), "float32")}

    @staticmethod
    def get_output_names():
        return ["boxes", "scores"]
"""

_YOLO_MODEL = """\
from qai_hub_models.models._shared.yolo.model import Yolo

MODEL_ASSET_VERSION = 1


class YoloV7(Yolo):
    def forward(self, image):
        return image
"""

_INIT = "from .model import {} as Model  # noqa: F401\nfrom .app import ExampleApp as App\n"


class _ModelRule:
    """Mixin: the folder's analysis, and reporting at a method (local) or at the class that
    inherits it (the definition lies outside the folder)."""

    needs_index: ClassVar[bool] = True

    def analysis(self) -> ModelAnalysis:
        return analyse(self.ctx)  # type: ignore[attr-defined]

    def source_of(self, path: str) -> SourceFile | None:
        folder = self.ctx.folder  # type: ignore[attr-defined]
        file = Path(path)
        if file.parent != folder.path:
            return None
        return folder.file(file.name)  # type: ignore[no-any-return]


def _method_node(source: SourceFile, cls: ClassInfo, name: str) -> ast.AST | None:
    try:
        tree = source.tree
    except SourceError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.name and node.lineno == cls.lineno:
            for statement in node.body:
                if (
                    isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and statement.name == name
                ):
                    return statement
                if isinstance(statement, (ast.Assign, ast.AnnAssign)):
                    targets = (
                        statement.targets
                        if isinstance(statement, ast.Assign)
                        else [statement.target]
                    )
                    if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                        return statement
            return node
    return None


def _def_span(source: SourceFile, node: ast.AST) -> tuple[Location, Location]:
    """The ``def name`` head of a function (not its decorators or body)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        row = node.lineno
        line = source.line(row)
        keyword = "class " if isinstance(node, ast.ClassDef) else "def "
        column = line.find(keyword + node.name)
        if column >= 0:
            start = Location(row, column + 1)
            return start, Location(row, column + 1 + len(keyword) + len(node.name))
    return source.node_span(node)


class _MethodRule(_ModelRule, FolderRule):
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
        from qaihm_lint.fixers.edits import fix_from_cst

        target_cls = owner if method is not None and self.source_of(owner.path) else checked
        source = self.source_of(target_cls.path)
        if source is None:
            # Neither in the folder (a component from _shared): report at the model class.
            model = self.analysis().model
            if model is None or self.source_of(model.path) is None:
                return
            target_cls, source = model, self.source_of(model.path)
            assert source is not None
        node = _method_node(source, target_cls, name if target_cls is owner else "")
        if node is None:
            return
        start, end = _def_span(source, node)
        fix = None
        if fix_transform is not None and target_cls is owner:
            fix = fix_from_cst(
                source,
                fix_transform,
                fix_message,
                applicability,
            )
        self.report(
            source, message, start=start, end=end, fix=fix, anchor=f"{target_cls.name}.{name}"
        )


# ---------------------------------------------------------------------------------------------


class MissingModelClass(_ModelRule, FolderRule):
    summary = "No BaseModel / CollectionModel / BasePrecompiledModel subclass in the folder."
    why = (
        "Export, tests and the website tooling expect the folder's model to derive from the "
        "framework's base classes (directly, through `_shared`, or through aliases such as "
        "`PytorchWorkbenchModel`); anything else has no input spec, no export path."
    )
    valid = (
        Valid(
            _YOLO_MODEL,
            files={"__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO,
            },
            note="The framework base is reached through a _shared base.",
        ),
        Valid(
            "from qai_hub_models.utils import base_model as bm\n\n\n"
            "class ExampleModel(bm.BaseModel):\n    pass\n",
            note="A module-attribute base.",
        ),
        Valid(
            "from some_third_party import Thing\n\n\nclass ExampleModel(Thing):\n    pass\n",
            note="A base outside the package: cannot tell, stays silent.",
        ),
    )
    invalid = (
        Invalid(
            "import torch\n\n\nclass ExampleModel(torch.nn.Module):\n"
            "    def forward(self, x):\n        return x\n"
        ),
    )

    def check(self) -> None:
        folder = self.folder
        model_py = folder.file("model.py")
        if model_py is None:
            return
        try:
            model_py.tree  # noqa: B018
        except SourceError:
            return
        analysis = self.analysis()
        if analysis.local_models or (
            analysis.model is not None
            and analysis.mro is not None
            and analysis.mro.kind is not None
        ):
            return
        view = analysis.view
        module = view.module(view.module_of_file("model.py"))
        classes = [] if module is None else list(module.classes.values())
        # Stay silent when any class of model.py (or the export) has a base we cannot follow.
        for cls in classes + ([analysis.model] if analysis.model else []):
            mro = view.mro(cls)
            if mro.unresolved or any(
                not e.startswith(("torch.", "typing.", "abc.", "typing_extensions.", "builtins."))
                and e not in ("object",)
                for e in mro.external
            ):
                return
        location = Location(1, 1)
        names = ", ".join(c.name for c in classes[:3]) or "none"
        self.report(
            model_py,
            f"model.py of {folder.model_id} defines no subclass of BaseModel, "
            f"CollectionModel or BasePrecompiledModel (classes: {names}): derive the "
            "model from qai_hub_models.utils.base_model.BaseModel",
            start=location,
            anchor="model-class",
        )


class EvaluateMismatch(_ModelRule, FolderRule):
    summary = "The model defines eval_datasets() and get_evaluator() but evaluate.py is missing."
    why = (
        "Codegen writes evaluate.py for models that define both eval_datasets() and "
        "get_evaluator(); without it the model cannot be evaluated, and its absence after "
        "codegen ran (export.py exists) means codegen was not rerun after they were added. "
        "The converse is not a defect: codegen emits evaluate.py for every model that is not a "
        "collection, with a branch for an empty eval_datasets(), and deleting it would be "
        "undone by the next codegen run."
    )
    severity = Severity.WARNING
    layouts = frozenset({Layout.INFO})
    valid = (
        Valid(),
        Valid(
            files={"evaluate.py": "# THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY.\n"},
            path="evaluate.py",
            note="Codegen emits evaluate.py even for a model without eval_datasets().",
        ),
    )
    invalid = (
        Invalid(
            files={
                "model.py": _YOLO_MODEL.replace(
                    "    def forward",
                    "    @staticmethod\n    def eval_datasets():\n"
                    '        return ["coco"]\n\n    @classmethod\n    def get_evaluator(cls):\n'
                    "        return None\n\n    def forward",
                ),
                "__init__.py": _INIT.format("YoloV7"),
                "export.py": "# THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY.\n",
            },
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO,
            },
            note="Codegen ran (export.py) but evaluate.py is missing.",
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        if analysis.model is None or analysis.mro is None or analysis.mro.kind is None:
            return
        mro = analysis.mro
        defined = [
            name
            for name in ("eval_datasets", "get_evaluator")
            if _provided(mro, name, allow_framework=False)
        ]
        folder = self.folder
        model = analysis.model
        if not folder.has("evaluate.py") and len(defined) == 2 and folder.has("export.py"):
            source = self.source_of(model.path)
            if source is None:
                return
            node = _method_node(source, model, "")
            start, end = _def_span(source, node) if node is not None else (Location(1, 1),) * 2
            self.report(
                source,
                f"{model.name} defines eval_datasets() and get_evaluator() but "
                f"{folder.model_id} has no evaluate.py: run "
                f"`python qai_hub_models/scripts/run_codegen.py -m {folder.model_id}`",
                start=start,
                end=end,
                anchor="evaluate",
            )


def _provided(mro: Mro, name: str, *, allow_framework: bool = True) -> bool:
    from qaihm_lint.index import is_framework

    found = mro.lookup(name)
    if found is None:
        return False
    owner, method = found
    if not allow_framework and is_framework(owner):
        return False
    if not allow_framework and owner.module.startswith("qai_hub_models.utils."):
        return False
    return method.concrete


REQUIRED_INFO = ("from_pretrained", "get_input_spec", "get_output_names")
_WHAT_TO_DO = {
    "from_pretrained": "define `@classmethod def from_pretrained(cls, ...)` loading the "
    "pretrained weights (every argument with a default)",
    "get_input_spec": "define `get_input_spec()` returning the InputSpec {name: (shape, dtype)}",
    "get_output_names": "define `get_output_names()` returning the list of output names",
    "get_output_spec": "define `get_output_spec()` (get_output_names derives from it)",
}


def _required(layout: Layout, role: str) -> tuple[str, ...]:
    if role == "collection":
        return ("from_pretrained",)
    if layout is Layout.MANIFEST:
        return ("from_pretrained", "get_input_spec", "get_output_spec")
    return REQUIRED_INFO


class MissingRequiredMethod(_MethodRule):
    summary = "from_pretrained / get_input_spec / get_output_names neither defined nor inherited."
    why = (
        "Export, profiling and the generated tests call these three on every model; an abstract "
        "definition inherited from the framework fails only at run time."
    )
    valid = (
        Valid(
            _YOLO_MODEL,
            files={"__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO,
            },
            note="All three inherited from a _shared base.",
        ),
        Valid(
            "from qai_hub_models.utils.base_model import BaseModel as Base\n"
            "from qai_hub_models.models._shared.llm.model import LLMBase\n\n\n"
            "class ExampleModel(LLMBase, Base):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    get_input_spec = staticmethod(LLMBase.get_input_spec)\n"
            "    get_output_names = staticmethod(LLMBase.get_output_names)\n",
            package_files={
                "models/_shared/llm/__init__.py": "",
                "models/_shared/llm/model.py": "class LLMBase:\n    pass\n",
            },
            note="`name = staticmethod(...)` assignments provide the method.",
        ),
    )
    invalid = (
        Invalid(
            files={"model.py": _YOLO_MODEL, "__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO.replace(
                    "    @staticmethod\n    def get_output_names():\n"
                    '        return ["boxes", "scores"]\n',
                    "",
                ),
            },
            note="The _shared base lost get_output_names.",
        ),
        Invalid(
            files={"model.py": _YOLO_MODEL, "__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO.replace(
                    '        return ["boxes", "scores"]', "        raise NotImplementedError()"
                ),
            },
            note="An inherited definition that only raises NotImplementedError.",
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        layout = self.folder.layout
        for checked in analysis.checked:
            for name in _required(layout, checked.role):
                found = checked.order.lookup(name)
                if found is not None and found[1].concrete:
                    continue
                if found is not None and found[1].form == "alias":
                    continue
                if name == "get_output_spec" and _provided(
                    checked.order, "get_output_names", allow_framework=False
                ):
                    continue
                role = {
                    "model": "model class",
                    "component": "collection component",
                    "collection": "collection",
                }[checked.role]
                detail = ""
                if found is not None:
                    detail = (
                        f" (the definition it inherits, {found[0].name} at "
                        f"{where(analysis.view, found[0], found[1])}, is abstract)"
                    )
                self.report_method(
                    checked.cls,
                    checked.cls,
                    None,
                    name,
                    f"{role} {checked.cls.name} ({where(analysis.view, checked.cls)}) neither "
                    f"defines nor inherits {name}{detail}: {_WHAT_TO_DO[name]}",
                )


def _local_defs(analysis: ModelAnalysis, name: str) -> Iterator[tuple[ClassInfo, Mro, MethodInfo]]:
    """Definitions of ``name`` in the folder's own model classes."""
    for cls, mro in analysis.local_models:
        method = cls.methods.get(name)
        if method is not None and is_local(analysis.view, cls.path):
            yield cls, mro, method


def _resolved(
    analysis: ModelAnalysis, name: str, *, pytorch_only: bool = True
) -> Iterator[tuple[Checked, ClassInfo, MethodInfo]]:
    from qaihm_lint.index import is_framework

    for checked in analysis.checked:
        if pytorch_only and checked.role == "collection" and name != "from_pretrained":
            continue
        found = checked.order.lookup(name)
        if (
            found is None
            or is_framework(found[0])
            or found[0].module.startswith("qai_hub_models.utils.")
        ):
            continue
        yield checked, found[0], found[1]


class FromPretrainedNotClassmethod(_MethodRule):
    summary = "from_pretrained lacks @classmethod."
    why = (
        "Every caller does `Model.from_pretrained()` on the class; without @classmethod the "
        "call fails (or binds the first argument to the wrong thing)."
    )
    fix_applicability = Applicability.SAFE
    fix_note = (
        "Adds @classmethod above the other decorators; renames the first parameter to "
        "`cls` (and its uses) when no other name `cls` is in the way."
    )
    valid = (
        Valid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @functools.cache\n    @classmethod\n"
            "    def from_pretrained(cls, *args, **kwargs):\n        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n",
            note="Decorators in any order.",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    # Load the weights.\n"
            '    def from_pretrained(self, weights: str = "a.pt"):\n'
            "        return self(weights)\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n",
            fixed="from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    # Load the weights.\n"
            "    @classmethod\n"
            '    def from_pretrained(cls, weights: str = "a.pt"):\n'
            "        return cls(weights)\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n",
        ),
        Invalid(
            _YOLO_MODEL.replace(
                "    def forward",
                "    def from_pretrained(self, cls=None):\n"
                "        return Yolo.from_pretrained()\n\n    def forward",
            ),
            files={"__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO,
            },
            fixed=_YOLO_MODEL.replace(
                "    def forward",
                "    @classmethod\n    def from_pretrained(self, cls=None):\n"
                "        return Yolo.from_pretrained()\n\n    def forward",
            ),
            note="An inherited classmethod overridden by a non-compliant one; `cls` is taken, "
            "so the parameter keeps its name.",
        ),
    )

    def check(self) -> None:
        from qaihm_lint.fixers.python_fixes import make_classmethod

        analysis = self.analysis()
        seen: set[tuple[str, int]] = set()
        candidates = [
            (c.cls, c.order, owner, m)
            for c, owner, m in _resolved(analysis, "from_pretrained", pytorch_only=False)
        ]
        candidates += [
            (cls, mro, cls, m) for cls, mro, m in _local_defs(analysis, "from_pretrained")
        ]
        for cls, mro, owner, method in candidates:
            if (owner.path, method.lineno) in seen or mro.kind == "precompiled":
                continue
            seen.add((owner.path, method.lineno))
            if method.is_classmethod or method.form != "def":
                continue
            self.report_method(
                cls,
                owner,
                method,
                "from_pretrained",
                f"from_pretrained of {owner.name} ({where(analysis.view, owner, method)}) must "
                "be a classmethod: add @classmethod and take `cls` first",
                fix_transform=make_classmethod(owner.name, "from_pretrained"),
                fix_message="add @classmethod",
            )


def _required_params(params: tuple[Param, ...]) -> list[Param]:
    return [p for p in params if not p.has_default and p.kind not in ("vararg", "varkw")]


class FromPretrainedArgWithoutDefault(_MethodRule):
    summary = "A from_pretrained parameter (after cls) has no default."
    why = (
        "Export scripts, tests and deep checks call `Model.from_pretrained()` with no "
        "arguments; a required parameter makes every one of them fail."
    )
    valid = (
        Valid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n"
            "    def from_pretrained(cls, w: str = 'a', *args, scale: int = 2, **kwargs):\n"
            "        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n",
            note="*args, **kwargs and keyword-only parameters with defaults.",
        ),
        Valid(
            _YOLO_MODEL.replace(
                "    def forward",
                "    @classmethod\n"
                "    def from_pretrained(cls, weights: str = 'v7.pt'):\n"
                "        return super().from_pretrained(weights)\n\n"
                "    def forward",
            ),
            files={"__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO.replace(
                    'weights: str = "yolo.pt"', "weights: str"
                ),
            },
            note="An intermediate _shared base may require it; the class a user calls "
            "gives the default.",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n"
            "    def from_pretrained(cls, w: str = 'a', *, scale: int):\n"
            "        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n",
            note="A keyword-only parameter without a default.",
        ),
        Invalid(
            _YOLO_MODEL,
            files={"__init__.py": _INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO.replace(
                    'weights: str = "yolo.pt"', "weights: str"
                ),
            },
            note="Inherited as is: reported at the model class.",
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        seen: set[tuple[str, str]] = set()
        for checked, owner, method in _resolved(analysis, "from_pretrained", pytorch_only=False):
            if checked.order.kind == "precompiled" or method.form != "def":
                continue
            if checked.role == "component" and _collection_overrides(analysis):
                continue  # the collection's own from_pretrained builds its components
            required = _required_params(method.bound_params())
            if not required or (checked.cls.qualname, owner.qualname) in seen:
                continue
            seen.add((checked.cls.qualname, owner.qualname))
            names = ", ".join(p.name for p in required)
            inherited = "" if owner is checked.cls else f", inherited by {checked.cls.name},"
            self.report_method(
                checked.cls,
                owner,
                method,
                "from_pretrained",
                f"from_pretrained of {owner.name} ({where(analysis.view, owner, method)})"
                f"{inherited} has parameters without a default ({names}): "
                "`Model.from_pretrained()` must work with no arguments; give each a default",
            )


def _collection_overrides(analysis: ModelAnalysis) -> bool:
    """The collection defines its own from_pretrained (not the framework's generic one, which
    calls each component's from_pretrained without positional arguments)."""
    from qaihm_lint.index import is_framework

    if analysis.mro is None:
        return False
    found = analysis.mro.lookup("from_pretrained")
    return found is not None and not is_framework(found[0]) and found[1].concrete


class ExpectedStaticmethod(_MethodRule):
    summary = "info.yaml layout: get_input_spec / get_output_names not callable on the class."
    why = (
        "In this layout the generated export and test scripts call "
        "`Model.get_input_spec()` and `Model.get_output_names()` on the class, before any "
        "instance exists; @staticmethod, `name = staticmethod(...)` and @classmethod all work."
    )
    layouts = frozenset({Layout.INFO})
    fix_applicability = Applicability.SAFE
    fix_note = "Adds @staticmethod and drops `self`, only when the body never uses `self`."
    valid = (
        Valid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    @classmethod\n    def get_input_spec(cls, h: int = 8):\n"
            "        return {}\n\n"
            '    get_output_names = staticmethod(lambda: ["out"])\n'
        ),
        Valid(
            files={
                "model.py": _YOLO_MODEL.replace("Yolo)", "Yolo)").replace(
                    "    def forward",
                    "    def get_output_names(self):\n        return []\n\n    def forward",
                )
            },
            layout=Layout.MANIFEST,
            path="model.py",
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": _SHARED_YOLO,
            },
            note="The manifest layout uses instance methods.",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    def get_input_spec(self, h: int = 8):  # spec\n"
            '        return {"image": ((1, 3, h, h), "float32")}\n\n'
            "    @staticmethod\n    def get_output_names():\n        return []\n",
            fixed="from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    @staticmethod\n"
            "    def get_input_spec(h: int = 8):  # spec\n"
            '        return {"image": ((1, 3, h, h), "float32")}\n\n'
            "    @staticmethod\n    def get_output_names():\n        return []\n",
        ),
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    def get_output_names(self):\n        return self.names\n",
            note="get_output_names uses self: reported without a fix.",
        ),
    )

    def check(self) -> None:
        from qaihm_lint.fixers.python_fixes import make_staticmethod

        analysis = self.analysis()
        seen: set[tuple[str, int]] = set()
        for name in ("get_input_spec", "get_output_names"):
            for checked, owner, method in _resolved(analysis, name):
                if (owner.path, method.lineno) in seen or method.form != "def":
                    continue
                seen.add((owner.path, method.lineno))
                if method.is_static or method.is_classmethod or method.is_property:
                    continue
                first = method.params[0].name if method.params else ""
                # Drop only a `self` the body never reads: any other first parameter is a
                # real argument of a method that lost its decorator.
                fixable = first == "self" and not method.uses_first
                advice = (
                    "add @staticmethod and drop `self`"
                    if fixable
                    else "make it a @staticmethod (or @classmethod) that does not need an instance"
                )
                self.report_method(
                    checked.cls,
                    owner,
                    method,
                    name,
                    f"{name} of {owner.name} ({where(analysis.view, owner, method)}) is an "
                    f"instance method, but this layout calls it on the class: {advice}",
                    fix_transform=make_staticmethod(owner.name, name) if fixable else None,
                    fix_message="add @staticmethod and drop self",
                )


class InputSpecArgWithoutDefault(_MethodRule):
    summary = "A get_input_spec parameter has no default."
    why = (
        "Tools call `get_input_spec()` with no arguments to build sample inputs; a required "
        "parameter (intentional for some LLMs) makes the generic paths unusable."
    )
    valid = (Valid(),)
    invalid = (
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec(llm_config, h: int = 8):\n"
            "        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n"
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        for checked, owner, method in _resolved(analysis, "get_input_spec"):
            if method.form != "def":
                continue
            required = _required_params(method.bound_params())
            if not required:
                continue
            names = ", ".join(p.name for p in required)
            self.report_method(
                checked.cls,
                owner,
                method,
                "get_input_spec",
                f"get_input_spec of {owner.name} ({where(analysis.view, owner, method)}) has "
                f"parameters without a default ({names}): give each a default",
            )


class LitempPercentageRange(PythonRule):
    triggers = ("get_hub_litemp_percentage",)
    summary = "get_hub_litemp_percentage returns a literal outside 0-100."
    why = (
        "The value is the percentage of sensitive layers kept in higher precision for mixed "
        "precision; a fraction (0.1 meaning 10 %) or a value above 100 is silently wrong."
    )
    files = ("*.py",)
    valid = (
        Valid(
            "class ExampleModel:\n"
            "    @staticmethod\n    def get_hub_litemp_percentage(precision) -> float:\n"
            "        return 10 if precision else 0.0\n"
        ),
    )
    invalid = (
        Invalid(
            "class ExampleModel:\n"
            "    @staticmethod\n    def get_hub_litemp_percentage(precision) -> float:\n"
            "        return 150\n"
        ),
        Invalid(
            "class ExampleModel:\n"
            "    def get_hub_litemp_percentage(self, precision) -> float:\n"
            "        if precision:\n            return -5\n        return 50\n"
        ),
    )

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name != "get_hub_litemp_percentage":
            return
        for inner in ast.walk(node):
            if isinstance(inner, ast.Return) and inner.value is not None:
                for value in _literal_values(inner.value):
                    number, literal = value
                    if not 0 <= number <= 100:
                        self.report_here(
                            literal,
                            f"get_hub_litemp_percentage returns {number}, outside "
                            "0-100: return a percentage of layers (e.g. 10 for 10 %)",
                        )

    visit_AsyncFunctionDef = visit_FunctionDef


def _literal_values(node: ast.expr) -> Iterator[tuple[float, ast.expr]]:
    if isinstance(node, ast.IfExp):
        yield from _literal_values(node.body)
        yield from _literal_values(node.orelse)
        return
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        yield -node.operand.value, node
        return
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        yield node.value, node


_ASSET_CALLS = ("from_asset_store",)


class MissingModelAssetVersion(PythonRule):
    triggers = _ASSET_CALLS
    summary = "model.py loads hosted assets but has no MODEL_ASSET_VERSION."
    why = (
        "Hosted assets live under versioned folders (v1, v2, ...) that can never be deleted; "
        "the constant pins which version the code reads, and codegen reads it too."
    )
    files = ("model.py",)
    valid = (
        Valid(),
        Valid(
            "from qai_hub_models.models._shared.ffnet.model import MODEL_ASSET_VERSION\n"
            "from qai_hub_models.utils.asset_loaders import CachedWebModelAsset\n\n"
            "W = CachedWebModelAsset.from_asset_store('example', MODEL_ASSET_VERSION, 'w.pt')\n",
            note="Imported from a _shared module.",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.utils.asset_loaders import CachedWebModelAsset\n\n"
            "MODEL_ID = 'example'\n"
            "W = CachedWebModelAsset.from_asset_store(MODEL_ID, 1, 'weights.pt')\n"
        ),
    )

    def begin_file(self) -> None:
        self._calls: list[ast.Call] = []
        self._bound = False

    def visit_Call(self, node: ast.Call) -> None:
        if dotted(node.func).rsplit(".", 1)[-1] in _ASSET_CALLS:
            self._calls.append(node)

    def end_file(self) -> None:
        if not self._calls:
            return
        from qaihm_lint.index import top_level_statements

        for statement in top_level_statements(self.source.tree.body):
            if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                if any(
                    isinstance(t, ast.Name) and t.id == "MODEL_ASSET_VERSION"
                    for target in targets
                    for t in ast.walk(target)
                ):
                    return
            elif isinstance(statement, ast.ImportFrom) and any(
                (a.asname or a.name) == "MODEL_ASSET_VERSION" or a.name == "*"
                for a in statement.names
            ):
                return
        call = self._calls[0]
        self.report_here(
            call,
            "model.py loads a hosted asset but defines no "
            "MODEL_ASSET_VERSION: add `MODEL_ASSET_VERSION = 1` (the asset "
            "folder's version) at module level and pass it to from_asset_store",
        )


__all__ = [
    "EvaluateMismatch",
    "ExpectedStaticmethod",
    "FromPretrainedArgWithoutDefault",
    "FromPretrainedNotClassmethod",
    "InputSpecArgWithoutDefault",
    "LitempPercentageRange",
    "MissingModelAssetVersion",
    "MissingModelClass",
    "MissingRequiredMethod",
    "display_path",
]
