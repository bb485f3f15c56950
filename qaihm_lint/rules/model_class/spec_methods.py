"""``get_input_spec`` and ``get_output_names``: callable on the class, with defaults
(QAI204, QAI205)."""

from __future__ import annotations

from qaihm_lint.diagnostics import Applicability
from qaihm_lint.index import Mro
from qaihm_lint.rules._eras import INSTANCE_ERA
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import ModelAnalysis, where
from qaihm_lint.rules.model_class._contract import callable_on_class, declaration
from qaihm_lint.rules.model_class._examples import SHARED_YOLO, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import MethodRule, required_params, resolved
from qaihm_lint.workspace import Layout


class ExpectedStaticmethod(MethodRule):
    summary = (
        "get_input_spec / get_output_names not callable on the class where the framework "
        "declares them static."
    )
    why = (
        "Where the package's own framework declares these methods static (HubModelProtocol up "
        "to 0.53), the generated export and test scripts call `Model.get_input_spec()` and "
        "`Model.get_output_names()` on the class, before any instance exists; @staticmethod, "
        "`name = staticmethod(...)` and @classmethod all work. From 0.54 the framework declares "
        "them instance methods and this rule is silent. The convention is read from the "
        "checked tree's framework; without one, the info.yaml layout means static."
    )
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
                "model.py": YOLO_MODEL.replace("Yolo)", "Yolo)").replace(
                    "    def forward",
                    "    def get_output_names(self):\n        return []\n\n    def forward",
                )
            },
            layout=Layout.MANIFEST,
            path="model.py",
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO,
            },
            note="The manifest layout uses instance methods.",
        ),
        Valid(
            "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
            "class ExampleModel(BaseModel):\n"
            "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
            "    def get_input_spec(self, h: int = 8):\n        return {}\n\n"
            "    def get_output_names(self):\n        return []\n",
            package_files={"utils/base_model.py": INSTANCE_ERA},
            note="An info.yaml tree whose framework declares instance methods (0.54 to 0.58).",
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
            for checked, owner, method in resolved(analysis, name):
                if (owner.path, method.lineno) in seen or method.form != "def":
                    continue
                seen.add((owner.path, method.lineno))
                if method.is_static or method.is_classmethod or method.is_property:
                    continue
                convention = self._class_call(analysis, checked.order, name)
                if convention is None:
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
                    f"instance method, but {convention} calls it on the class: {advice}",
                    fix_transform=make_staticmethod(owner.name, name) if fixable else None,
                    fix_message="add @staticmethod and drop self",
                )

    def _class_call(self, analysis: ModelAnalysis, order: Mro, name: str) -> str | None:
        """Why ``name`` must be callable on the class (None: it need not be)."""
        declared = declaration(order, name)
        if declared is None:
            return "the info.yaml layout" if self.folder.layout is Layout.INFO else None
        if not callable_on_class(declared.method):
            return None
        kind = "static" if declared.method.is_static else "a classmethod"
        return (
            f"the framework declares it {kind} "
            f"({where(analysis.view, declared.owner, declared.method)}) and"
        )


class InputSpecArgWithoutDefault(MethodRule):
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
        for checked, owner, method in resolved(analysis, "get_input_spec"):
            if method.form != "def":
                continue
            required = required_params(method.bound_params())
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
