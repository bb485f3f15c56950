"""RepoIndex: static resolution of names, bases and methods across the package."""

from __future__ import annotations

import pickle
from pathlib import Path

from qaihm_lint.index import RepoIndex, body_is_stub
from qaihm_lint.testing import build_tree
from qaihm_lint.workspace import discover

SHARED_BASE = """\
from qai_hub_models.utils.base_model import BaseModel


class Detector(BaseModel):
    @classmethod
    def from_pretrained(cls, weights: str):
        return cls()

    @staticmethod
    def get_input_spec():
        return {}

    @staticmethod
    def get_output_names():
        return ["boxes"]
"""


def _view(
    tmp_path: Path,
    model_py: str,
    package_files: dict[str, str] | None = None,
    init: str | None = None,
):  # type: ignore[no-untyped-def]
    files = {"model.py": model_py}
    if init is not None:
        files["__init__.py"] = init
    tree = build_tree(tmp_path, files, package_files=package_files or {})
    workspace = discover([tree.model()])
    index = RepoIndex.build(tree.package)
    return index, index.view(workspace.folders[0]), tree


def _model(view):  # type: ignore[no-untyped-def]
    return view.resolve_class(view.prefix, "Model")


def test_aliased_import_and_relative_reexport(tmp_path: Path) -> None:
    _, view, _ = _view(
        tmp_path,
        "from .._shared.det import Detector as D\n\n\nclass ExampleModel(D):\n    pass\n",
        {
            "models/_shared/det/__init__.py": "from .model import Detector\n",
            "models/_shared/det/model.py": SHARED_BASE,
        },
        init="from .model import ExampleModel as Model\n",
    )
    model = _model(view)
    assert model is not None and model.name == "ExampleModel"
    mro = view.mro(model)
    assert [c.name for c in mro.classes][:3] == ["ExampleModel", "Detector", "BaseModel"]
    assert mro.kind == "pytorch"
    found = mro.lookup("get_output_names")
    assert found is not None and found[0].name == "Detector" and found[1].is_static


def test_module_attribute_base_and_assignment_alias(tmp_path: Path) -> None:
    _, view, _ = _view(
        tmp_path,
        "from qai_hub_models.utils import base_model\n\nBase = base_model.BaseModel\n\n\n"
        "class ExampleModel(Base):\n    pass\n",
        init="from qai_hub_models.models.example.model import ExampleModel as Model\n",
    )
    model = _model(view)
    assert model is not None
    assert view.mro(model).kind == "pytorch"


def test_c3_finds_the_real_definition_after_a_protocol_stub(tmp_path: Path) -> None:
    # Depth-first would find Protocol's abstract stub through Mixin before Impl.
    model_py = """\
from abc import abstractmethod
from typing import Protocol

from qai_hub_models.utils.base_model import BaseModel


class Proto(Protocol):
    @abstractmethod
    def get_output_names(self):
        ...


class Mixin(Proto):
    pass


class Impl(Proto):
    @staticmethod
    def get_output_names():
        return ["x"]


class ExampleModel(Mixin, Impl, BaseModel):
    pass
"""
    _, view, _ = _view(tmp_path, model_py)
    model = view.resolve_class(view.module_of_file("model.py"), "ExampleModel")
    assert model is not None
    found = view.mro(model).lookup("get_output_names")
    assert found is not None and found[0].name == "Impl" and found[1].concrete


def test_abstract_forms() -> None:
    import ast

    for body in (
        "raise NotImplementedError",
        "raise NotImplementedError()",
        "...",
        '"""doc"""',
        '"""doc"""\nraise NotImplementedError("no")',
    ):
        function = ast.parse("def f():\n" + "".join(f"    {line}\n" for line in body.split("\n")))
        assert body_is_stub(function.body[0].body), body  # type: ignore[attr-defined]
    function = ast.parse("def f():\n    return 1\n")
    assert not body_is_stub(function.body[0].body)  # type: ignore[attr-defined]


def test_unresolvable_base_is_reported_as_such(tmp_path: Path) -> None:
    _, view, _ = _view(
        tmp_path, "from .missing import Thing\n\n\nclass ExampleModel(Thing):\n    pass\n"
    )
    model = view.resolve_class(view.module_of_file("model.py"), "ExampleModel")
    assert model is not None
    mro = view.mro(model)
    assert mro.kind is None and mro.unresolved == ["Thing"]


def test_class_level_staticmethod_assignment_and_partial(tmp_path: Path) -> None:
    model_py = """\
from functools import partial

from qai_hub_models.utils.base_model import BaseModel
from qai_hub_models.utils.asset_loaders import SourceAsRoot

RepoAsRoot = partial(SourceAsRoot, "https://github.com/a/b", "0" * 40, "b", 1)


class ExampleModel(BaseModel):
    get_input_spec = staticmethod(BaseModel.get_input_spec)
"""
    _, view, _ = _view(tmp_path, model_py)
    module = view.module_of_file("model.py")
    model = view.resolve_class(module, "ExampleModel")
    assert model is not None and model.methods["get_input_spec"].is_static
    alias = view.resolve(module, "RepoAsRoot")
    assert alias.kind == "value" and alias.value is not None


def test_collection_components_from_add_component(tmp_path: Path) -> None:
    model_py = """\
from qai_hub_models.utils.base_model import BaseModel, CollectionModel


class Encoder(BaseModel):
    pass


@CollectionModel.add_component(Encoder, "encoder")
class ExampleModel(CollectionModel):
    pass
"""
    _, view, _ = _view(tmp_path, model_py)
    model = view.resolve_class(view.module_of_file("model.py"), "ExampleModel")
    assert model is not None and view.mro(model).kind == "collection"
    assert [c.name for c in view.component_classes(model)] == ["Encoder"]


def test_dependencies_and_dependants(tmp_path: Path) -> None:
    shared = {
        "models/_shared/det/__init__.py": "",
        "models/_shared/det/model.py": SHARED_BASE,
        "models/_shared/other/__init__.py": "",
        "models/_shared/other/model.py": "X = 1\n",
    }
    tree = build_tree(
        tmp_path,
        {
            "model.py": "from qai_hub_models.models._shared.det.model import Detector\n\n\n"
            "class ExampleModel(Detector):\n    pass\n"
        },
        package_files=shared,
        other_models={"plain": {}},
    )
    index = RepoIndex.build(tree.package)
    shared_file = tree.package / "models/_shared/det/model.py"
    deps = index.dependencies(tree.model())
    assert str(shared_file) in deps
    assert str(shared_file) not in index.dependencies(tree.model("plain"))
    assert index.dependants(shared_file) == [tree.model()]
    # What a changed shared file means for cached findings: test_cli's
    # test_cached_folder_is_rechecked_when_its_shared_base_changes.


def test_index_is_picklable_after_use(tmp_path: Path) -> None:
    index, view, _ = _view(
        tmp_path,
        "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
        "class ExampleModel(BaseModel):\n    pass\n",
    )
    view.mro(view.resolve_class(view.module_of_file("model.py"), "ExampleModel"))  # type: ignore[arg-type]
    copy = pickle.loads(pickle.dumps(index))
    assert copy.module("qai_hub_models.utils.base_model") is not None
