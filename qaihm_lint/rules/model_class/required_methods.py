"""The methods every model must provide, defined or inherited (QAI201)."""

from __future__ import annotations

from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import where
from qaihm_lint.rules.model_class._examples import INIT, SHARED_YOLO, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import MethodRule, provided
from qaihm_lint.workspace import Layout

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


class MissingRequiredMethod(MethodRule):
    summary = "from_pretrained / get_input_spec / get_output_names neither defined nor inherited."
    why = (
        "Export, profiling and the generated tests call these three on every model; an abstract "
        "definition inherited from the framework fails only at run time."
    )
    valid = (
        Valid(
            YOLO_MODEL,
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO,
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
            files={"model.py": YOLO_MODEL, "__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO.replace(
                    "    @staticmethod\n    def get_output_names():\n"
                    '        return ["boxes", "scores"]\n',
                    "",
                ),
            },
            note="The _shared base lost get_output_names.",
        ),
        Invalid(
            files={"model.py": YOLO_MODEL, "__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO.replace(
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
                if found is not None and found.method.concrete:
                    continue
                if found is not None and found.method.form == "alias":
                    continue
                if name == "get_output_spec" and provided(
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
