"""Which files a model folder holds, and what its ``__init__.py`` exports (QAI101, QAI103)."""

from __future__ import annotations

import ast
from pathlib import Path

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.index import top_level_statements
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.rules.model_class._analysis import analyse
from qaihm_lint.sources import SourceError, SourceFile, file_at
from qaihm_lint.workspace import CODE_FILES, Layout, ModelFolder


def module_bindings(source: SourceFile) -> dict[str, ast.stmt]:
    """Names a module binds at import time, with the statement that binds each."""
    bound: dict[str, ast.stmt] = {}
    for statement in top_level_statements(source.tree.body):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                name = alias.asname or alias.name.split(".")[0]
                bound.setdefault(name, statement)
        elif isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.setdefault(statement.name, statement)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        bound.setdefault(node.id, statement)
    return bound


def exports(folder: ModelFolder) -> dict[str, ast.stmt] | None:
    """The names ``__init__.py`` binds, or None when it is absent or does not parse."""
    init = folder.file("__init__.py")
    if init is None:
        return None
    try:
        return module_bindings(init)
    except SourceError:
        return None


def metadata(folder: ModelFolder) -> dict[str, object]:
    """The folder's info.yaml or manifest.yaml as a mapping ({} when absent or unreadable)."""
    for name in (Layout.INFO.value, Layout.MANIFEST.value):
        source = folder.file(name)
        if source is None:
            continue
        try:
            data = yamlfile.load(source).data
        except SourceError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def is_llm(folder: ModelFolder) -> bool:
    """LLM folders (``model_type_llm: true``) run through the shared chat / Genie tooling."""
    return metadata(folder).get("model_type_llm") is True


def float_parent(folder: ModelFolder) -> Path | None:
    """``models/<id>`` for a ``<id>_quantized`` variant: the float model whose code it shares."""
    model_id = folder.model_id
    if not model_id.endswith("_quantized") or folder.package is None:
        return None
    return folder.package.models_dir / model_id.removesuffix("_quantized")


def _parent_has_tests(folder: ModelFolder) -> bool:
    parent = float_parent(folder)
    return parent is not None and file_at(parent / "test.py") is not None


def is_generative(folder: ModelFolder) -> bool:
    """Generative AI models (diffusion pipelines, LLMs): tested through export and compile jobs
    and the shared tooling; none of them has ever had the per-model unit-test trio upstream."""
    return metadata(folder).get("domain") == "Generative AI"


MANIFEST_LLM = """\
name: Example
id: example
status: public
headline: An example LLM.
domain: Generative AI
description: An example.
use_case: Text Generation
has_static_banner: true
license_type: apache-2.0
model_type_llm: true
"""


INFO_GENERATIVE = """\
name: Example
id: example
status: public
headline: An example image generator.
domain: Generative AI
use_case: Image Generation
"""


PRECOMPILED_MODEL = """\
from qai_hub_models.utils.base_model import BasePrecompiledModel


class ExampleModel(BasePrecompiledModel):
    @classmethod
    def from_precompiled(cls):
        return cls()
"""


class MissingRequiredFile(FolderRule):
    needs_index = True
    summary = (
        "A model folder lacks model.py, app.py, demo.py, test.py or its info.yaml / manifest.yaml."
    )
    why = (
        "The onboarding guide requires each of them: the model, an end-to-end app, a runnable "
        "demo, unit tests and the metadata the website and code generator read. An `App` "
        "exported from a shared app in `__init__.py` stands in for app.py. A precompiled model "
        "(no PyTorch source) needs no app.py or demo.py. A folder with metadata but none of the "
        "code files is a published model card and is only checked for its metadata."
    )
    valid = (
        Valid(
            files={
                "app.py": None,
                "__init__.py": "from qai_hub_models.models._shared.yolo.app import "
                "YoloDetectionApp as App\nfrom .model import ExampleModel as Model\n",
            },
            path="__init__.py",
            note="A shared App counts as app.py.",
        ),
        Valid(
            files={
                "model.py": None,
                "app.py": None,
                "demo.py": None,
                "test.py": None,
                "__init__.py": None,
            },
            path="info.yaml",
            note="Metadata only: a published model card.",
        ),
        Valid(
            files={
                "app.py": None,
                "__init__.py": "from .model import ExampleModel as Model\n",
                "manifest.yaml": MANIFEST_LLM,
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
            note="LLMs of the manifest layout run through the shared chat tooling, no App.",
        ),
        Valid(
            files={
                "app.py": None,
                "demo.py": None,
                "__init__.py": "from .model import ExampleModel as Model\n",
                "model.py": PRECOMPILED_MODEL,
            },
            path="model.py",
            note="A precompiled model has no PyTorch source for an App or a demo to run.",
        ),
        Valid(
            files={"demo.py": None},
            path="manifest.yaml",
            layout=Layout.MANIFEST,
            note="The manifest layout's validator treats demo.py as optional.",
        ),
        Valid(
            files={"test.py": None, "manifest.yaml": MANIFEST_LLM},
            path="manifest.yaml",
            layout=Layout.MANIFEST,
            note="Generative models have no per-model test.py in either layout.",
        ),
        Valid(
            files={"test.py": None, "info.yaml": INFO_GENERATIVE},
            path="info.yaml",
            note="Diffusion pipelines and LLMs are tested through export and compile jobs.",
        ),
        Valid(
            files={"test.py": None, "model.py": PRECOMPILED_MODEL},
            path="model.py",
            note="A precompiled model has no PyTorch code to unit-test.",
        ),
    )
    invalid = (
        Invalid(files={"demo.py": None}, path="info.yaml"),
        Invalid(files={"test.py": None}, path="info.yaml"),
        Invalid(files={"info.yaml": None}, path="__init__.py"),
        Invalid(
            files={"manifest.yaml": None},
            path="__init__.py",
            layout=Layout.MANIFEST,
            other_models={"sibling": {}},
            note="The layout of a folder without metadata is that of its siblings.",
        ),
        Invalid(
            files={"test.py": None},
            path="manifest.yaml",
            layout=Layout.MANIFEST,
            note="A non-generative model of the manifest layout has a test.py too (yolov3 is "
            "the one folder of 0.59.0-0.65.0 without).",
        ),
    )

    def check(self) -> None:
        folder = self.folder
        metadata = folder.layout.value
        if folder.is_card_only:
            if (
                not folder.has(metadata)
                and not folder.has(Layout.INFO.value)
                and not folder.has(Layout.MANIFEST.value)
            ):
                self.report(
                    _existing_anchor(folder),
                    f"model folder {folder.model_id} has no {metadata}: add the model's metadata",
                    anchor=metadata,
                )
            return
        required = [*CODE_FILES, metadata]
        if is_llm(folder):
            # LLMs run through the shared chat tooling: none of the 38 of the 0.65 release has an
            # App, and qwen2_5_7b_instruct has had neither app.py nor demo.py since it was added.
            required.remove("app.py")
            required.remove("demo.py")
        if folder.layout is Layout.MANIFEST:
            # Upstream's manifest validator treats demo.py as optional in this layout. It says
            # the same of test.py, but every non-generative folder of 0.59.0-0.65.0 has one
            # except yolov3, which never had one (QAI101 in every info.yaml release).
            required = [name for name in required if name != "demo.py"]
        if is_generative(folder) and "test.py" in required:
            # Diffusion pipelines and LLMs: never a per-model test.py in any release.
            required.remove("test.py")
        bound = exports(folder)
        for name in required:
            if folder.has(name):
                continue
            if name == "app.py" and bound is not None and "App" in bound:
                continue  # a shared App re-exported in __init__.py
            if name in ("app.py", "demo.py", "test.py") and self._is_precompiled():
                continue  # no PyTorch source: nothing for an App, a demo or a test to run on CPU
            if name == "test.py" and _parent_has_tests(folder):
                # 0.17-0.25's `<id>_quantized` variants: tested once, on the float parent (30
                # such folders went 4-18 releases without, until they became export-only cards).
                continue
            if name == metadata and folder.has(
                Layout.INFO.value if metadata == Layout.MANIFEST.value else Layout.MANIFEST.value
            ):
                continue
            self.report(
                _existing_anchor(folder),
                f"model folder {folder.model_id} has no {name}: {_WHAT[name]}",
                anchor=name,
            )

    def _is_precompiled(self) -> bool:
        return analyse(self.ctx).kind == "precompiled"


def _existing_anchor(folder: ModelFolder) -> Path:
    """A file of the folder that exists, for a finding about one that does not: annotations
    (GitHub, SARIF) must land on a real file."""
    for name in (
        folder.layout.value,
        Layout.INFO.value,
        Layout.MANIFEST.value,
        "__init__.py",
        "model.py",
    ):
        if folder.has(name):
            return folder.path / name
    names = folder.names()
    return folder.path / names[0] if names else folder.path


_WHAT = {
    "model.py": "add the BaseModel subclass with from_pretrained, get_input_spec and "
    "get_output_names",
    "app.py": "add an App class wrapping the model with predict(), or export a shared one as "
    "`App` in __init__.py",
    "demo.py": "add a CLI demo that runs the app on sample data",
    "test.py": "add test_task and test_demo",
    "info.yaml": "add the model's metadata (then run scripts/autofill_info_yaml.py)",
    "manifest.yaml": "add the model's manifest (metadata and code-generation options)",
}


class MissingModelExport(FolderRule):
    summary = "`__init__.py` does not export `Model` (and `App` where app.py exists)."
    why = (
        "Generated export, evaluation and test scripts, and the package's own tooling, import "
        "`qai_hub_models.models.<id>.Model` and `.App`; without the alias they fail at import."
    )
    valid = (
        Valid(
            "from .app import ExampleApp as App\nfrom .model import ExampleModel as Model\n",
            path="__init__.py",
        ),
        Valid(
            "from qai_hub_models.models.example.model import ExampleModel\n"
            "from .app import ExampleApp as App\n\nModel = ExampleModel\n",
            path="__init__.py",
        ),
    )
    invalid = (
        Invalid(
            "from .app import ExampleApp as App\nfrom .model import ExampleModel\n",
            path="__init__.py",
        ),
        Invalid(
            "from .model import ExampleModel as Model\n",
            path="__init__.py",
            note="app.py exists, so App must be exported too.",
        ),
        Invalid(files={"__init__.py": None}, path="__init__.py"),
    )

    def check(self) -> None:
        folder = self.folder
        if folder.is_card_only:
            return
        init = folder.file("__init__.py")
        if init is None:
            self.report(
                folder.path / "__init__.py",
                f"model folder {folder.model_id} has no __init__.py: add one with "
                "`from .model import <YourModel> as Model`",
                anchor="__init__.py",
            )
            return
        try:
            bound = module_bindings(init)
        except SourceError:
            return  # QAI000 reports it
        wanted = ["Model"] if folder.has("model.py") else []
        if folder.has("app.py"):
            wanted.append("App")
        end = Location(1, len(init.line(1)) + 1)
        for name in wanted:
            if name in bound:
                continue
            source = "model" if name == "Model" else "app"
            self.report(
                init,
                f"__init__.py does not export `{name}`: add "
                f"`from .{source} import <Your{name}Class> as {name}`",
                end=end,
                anchor=f"export:{name}",
            )
