"""The methods every model must provide, defined or inherited (QAI201)."""

from __future__ import annotations

from collections.abc import Iterator

from qaihm_lint.index import Definition, FolderView, Mro
from qaihm_lint.rules._eras import GENERATED_ERA, STATIC_ERA, WORKBENCH_ERA
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import where
from qaihm_lint.rules.model_class._contract import declaration, delegates_to, generated_from
from qaihm_lint.rules.model_class._examples import INIT, SHARED_YOLO, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import MethodRule, provided

REQUIRED = ("from_pretrained", "get_input_spec", "get_output_names")
_WHAT_TO_DO = {
    "from_pretrained": "define `@classmethod def from_pretrained(cls, ...)` loading the "
    "pretrained weights (every argument with a default)",
    "get_input_spec": "define `get_input_spec()` returning the InputSpec {name: (shape, dtype)}",
    "get_output_names": "define `get_output_names()` returning the list of output names",
    "get_output_spec": "define `get_output_spec()` (get_output_names derives from it)",
}


_SPEC_ONLY = (
    "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
    "class ExampleModel(BaseModel):\n"
    "    @classmethod\n    def from_pretrained(cls):\n        return cls()\n\n"
    "    def get_input_spec(self):\n        return {}\n\n"
    "    def get_output_spec(self):\n        return {}\n"
)

_STATIC_SPEC_ONLY = _SPEC_ONLY.replace("    def get", "    @staticmethod\n    def get").replace(
    "(self)", "()"
)


def _precompiled(order: Mro) -> bool:
    """A collection loaded from precompiled assets (``from_precompiled``, the
    FromPrecompiledProtocol of 0.17-0.25) has nothing to load from pretrained weights."""
    found = order.lookup("from_precompiled")
    return order.lookup("from_pretrained") is None and found is not None and found.method.concrete


class MissingRequiredMethod(MethodRule):
    summary = "from_pretrained / get_input_spec / get_output_names neither defined nor inherited."
    why = (
        "Export, profiling and the generated tests call these three on every model; an abstract "
        "definition inherited from the framework fails only at run time. What counts as "
        "provided is read from the checked tree's framework: a method its `__init_subclass__` "
        "generates from another one (get_output_names from get_output_spec, 0.53 on), or a "
        "concrete framework method that calls an abstract one (the manifest layout's "
        "get_output_names, which needs get_output_spec). A method the framework does not "
        "declare at all (get_output_names before 0.9.2) is not asked for."
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
        Valid(
            _STATIC_SPEC_ONLY,
            package_files={"utils/base_model.py": GENERATED_ERA},
            note="The framework generates get_output_names from the class's get_output_spec.",
        ),
        Valid(
            _SPEC_ONLY,
            package_files={"utils/base_model.py": WORKBENCH_ERA},
            note="The framework's get_output_names derives from get_output_spec.",
        ),
        Valid(
            "from qai_hub_models.utils.base_model import CollectionModel\n\n\n"
            "class ExampleCollection(CollectionModel):\n"
            "    @classmethod\n    def from_precompiled(cls):\n        return cls()\n",
            note="A collection of precompiled assets has no from_pretrained.",
        ),
        Valid(
            _STATIC_SPEC_ONLY.replace("get_output_spec", "get_input_names"),
            package_files={
                "utils/base_model.py": STATIC_ERA.replace(
                    "    @staticmethod\n    def get_output_names():\n"
                    "        raise NotImplementedError\n",
                    "",
                )
            },
            note="A framework without get_output_names (before 0.9.2) does not ask for it.",
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
        Invalid(
            _STATIC_SPEC_ONLY,
            note="This framework generates nothing: get_output_spec alone is not enough.",
        ),
        Invalid(
            _SPEC_ONLY.replace("get_output_spec(self)", "get_output_names(self)"),
            package_files={"utils/base_model.py": WORKBENCH_ERA},
            note="The framework's get_output_names calls the abstract get_output_spec.",
        ),
    )

    def check(self) -> None:
        analysis = self.analysis()
        for checked in analysis.checked:
            names = REQUIRED if checked.role != "collection" else REQUIRED[:1]
            if checked.role == "collection" and _precompiled(checked.order):
                continue
            for wanted, found, alternatives in self._missing(analysis.view, checked.order, names):
                role = {
                    "model": "model class",
                    "component": "collection component",
                    "collection": "collection",
                }[checked.role]
                detail = ""
                if found is not None:
                    detail = (
                        f" (the definition it inherits, {found.owner.name} at "
                        f"{where(analysis.view, found.owner, found.method)}, is abstract)"
                    )
                advice = _WHAT_TO_DO[wanted]
                if alternatives:
                    advice += " or " + ", ".join(
                        f"`{alt}()`, from which the framework generates it" for alt in alternatives
                    )
                self.report_method(
                    checked.cls,
                    checked.cls,
                    None,
                    wanted,
                    f"{role} {checked.cls.name} ({where(analysis.view, checked.cls)}) neither "
                    f"defines nor inherits {wanted}{detail}: {advice}",
                )

    @staticmethod
    def _missing(
        view: FolderView, order: Mro, names: tuple[str, ...]
    ) -> Iterator[tuple[str, Definition | None, list[str]]]:
        """What the class lacks, as the tree's framework defines it: each method to ask for,
        the abstract definition it inherits, the methods the framework would generate it from.
        A concrete framework definition of a required method that calls an abstract one (the
        manifest layout's get_output_names) makes that one required too."""
        wanted = list(names)
        for name in wanted:
            declared = declaration(order, name)
            if declared is None:
                # The tree's framework does not know the method (get_output_names before
                # 0.9.2): nothing calls it there, so nothing asks for it.
                continue
            wanted += [d for d in delegates_to(view, order, declared) if d not in wanted]
            found = order.lookup(name)
            if found is not None and (found.method.concrete or found.method.form == "alias"):
                continue
            sources = generated_from(view, order, name)
            if any(provided(order, source, allow_framework=False) for source in sources):
                continue
            yield name, found, sources
