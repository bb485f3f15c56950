"""``from_pretrained``: a classmethod callable with no arguments (QAI202, QAI203)."""

from __future__ import annotations

from dataclasses import replace

from qaihm_lint.diagnostics import Applicability
from qaihm_lint.index import is_framework
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import Checked, ModelAnalysis, is_local, where
from qaihm_lint.rules.model_class._examples import INIT, SHARED_YOLO, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import (
    MethodRule,
    collection_overrides,
    local_defs,
    required_params,
    resolved,
)


class FromPretrainedNotClassmethod(MethodRule):
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
            YOLO_MODEL.replace(
                "    def forward",
                "    def from_pretrained(self, cls=None):\n"
                "        return Yolo.from_pretrained()\n\n    def forward",
            ),
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO,
            },
            fixed=YOLO_MODEL.replace(
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
            for c, owner, m in resolved(analysis, "from_pretrained", pytorch_only=False)
        ]
        candidates += [
            (cls, mro, cls, m) for cls, mro, m in local_defs(analysis, "from_pretrained")
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


class FromPretrainedArgWithoutDefault(MethodRule):
    summary = (
        "A from_pretrained parameter (after cls) has no default, in `Model` or in another "
        "model class the folder exports."
    )
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
            YOLO_MODEL.replace(
                "    def forward",
                "    @classmethod\n"
                "    def from_pretrained(cls, weights: str = 'v7.pt'):\n"
                "        return super().from_pretrained(weights)\n\n"
                "    def forward",
            ),
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO.replace(
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
            YOLO_MODEL,
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO.replace(
                    'weights: str = "yolo.pt"', "weights: str"
                ),
            },
            note="Inherited as is: reported at the model class.",
        ),
        Invalid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n"
            "    def from_pretrained(cls, checkpoint: str = 'a'):\n"
            "        return cls()\n\n"
            "    @staticmethod\n    def get_input_spec():\n        return {}\n\n"
            "    @staticmethod\n    def get_output_names():\n        return []\n\n\n"
            "class ExampleFP(ExampleModel):\n"
            "    @classmethod\n"
            "    def from_pretrained(cls, checkpoint: str):\n"
            "        return cls()\n",
            files={
                "__init__.py": "from .model import ExampleFP as FP_Model\n"
                "from .model import ExampleModel as Model\n"
            },
            note="Another model class the folder exports (an LLM's `FP_Model`), whose own "
            "from_pretrained drops the default its base gives.",
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        seen: set[tuple[str, str]] = set()
        also = replace(analysis, checked=_other_exports(analysis))
        for checked, owner, method in [
            *resolved(analysis, "from_pretrained", pytorch_only=False),
            # Another export is held to its own folder's definitions: the QNN_Model of 12 LLM
            # folders inherits LLM_QNN's from_pretrained(host_device, sequence_length,
            # context_length) for 23 releases (0.43.0-0.65.0), which upstream keeps.
            *(
                found
                for found in resolved(also, "from_pretrained", pytorch_only=False)
                if is_local(analysis.view, found[1].path)
            ),
        ]:
            if checked.order.kind == "precompiled" or method.form != "def":
                continue
            if checked.role == "component" and collection_overrides(analysis):
                continue  # the collection's own from_pretrained builds its components
            required = required_params(method.bound_params())
            if not required or (checked.cls.qualname, owner.qualname) in seen:
                continue
            seen.add((checked.cls.qualname, owner.qualname))
            names = ", ".join(p.name for p in required)
            caller = checked.cls.name if checked.role == "export" else "Model"
            inherited = "" if owner is checked.cls else f", inherited by {checked.cls.name},"
            self.report_method(
                checked.cls,
                owner,
                method,
                "from_pretrained",
                f"from_pretrained of {owner.name} ({where(analysis.view, owner, method)})"
                f"{inherited} has parameters without a default ({names}): "
                f"`{caller}.from_pretrained()` must work with no arguments; give each a default",
            )


def _other_exports(analysis: ModelAnalysis) -> list[Checked]:
    """Model classes ``__init__.py`` exports besides ``Model`` (an LLM's ``FP_Model``): users
    and the package's scripts call their from_pretrained the same way."""
    view = analysis.view
    module = view.module(view.prefix)
    if module is None:
        return []
    seen = {checked.cls.qualname for checked in analysis.checked}
    found = []
    for name in sorted(module.bindings):
        if name == "Model":
            continue
        cls = view.resolve_class(view.prefix, name)
        if cls is None or cls.qualname in seen or is_framework(cls):
            continue
        order = view.mro(cls)
        if order.kind == "pytorch":
            seen.add(cls.qualname)
            found.append(Checked(cls, order, "export"))
    return found
