"""The folder's model class: it exists, and codegen ran for what it defines (QAI102, QAI104)."""

from __future__ import annotations

from qaihm_lint.diagnostics import Location, Severity
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._examples import INIT, SHARED_YOLO, YOLO_MODEL
from qaihm_lint.rules.model_class._methods import AnalysedRule, definition_span, provided
from qaihm_lint.sources import SourceError
from qaihm_lint.workspace import Layout


class MissingModelClass(AnalysedRule):
    summary = "No BaseModel / CollectionModel / BasePrecompiledModel subclass in the folder."
    why = (
        "Export, tests and the website tooling expect the folder's model to derive from the "
        "framework's base classes (directly, through `_shared`, or through aliases such as "
        "`PytorchWorkbenchModel`); anything else has no input spec, no export path."
    )
    valid = (
        Valid(
            YOLO_MODEL,
            files={"__init__.py": INIT.format("YoloV7")},
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO,
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


class EvaluateMismatch(AnalysedRule):
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
                "model.py": YOLO_MODEL.replace(
                    "    def forward",
                    "    @staticmethod\n    def eval_datasets():\n"
                    '        return ["coco"]\n\n    @classmethod\n    def get_evaluator(cls):\n'
                    "        return None\n\n    def forward",
                ),
                "__init__.py": INIT.format("YoloV7"),
                "export.py": "# THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY.\n",
            },
            package_files={
                "models/_shared/yolo/__init__.py": "",
                "models/_shared/yolo/model.py": SHARED_YOLO,
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
            if provided(mro, name, allow_framework=False)
        ]
        folder = self.folder
        model = analysis.model
        if not folder.has("evaluate.py") and len(defined) == 2 and folder.has("export.py"):
            source = self.source_of(model.path)
            if source is None:
                return
            start, end = definition_span(source, model)
            self.report(
                source,
                f"{model.name} defines eval_datasets() and get_evaluator() but "
                f"{folder.model_id} has no evaluate.py: run "
                f"`python qai_hub_models/scripts/run_codegen.py -m {folder.model_id}`",
                start=start,
                end=end,
                anchor="evaluate",
            )
