"""What a model folder's own modules import from the folder itself and from other model folders
(QAI105, QAI106)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from qaihm_lint.diagnostics import Location
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.rules.files import module_bindings
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import PACKAGE_NAME, SHARED_CODE_DIRS, Layout, ModelFolder

_MODELS = f"{PACKAGE_NAME}.models."
# Modules of ``models/`` that are libraries rather than model folders.
_LIBRARIES = frozenset({*SHARED_CODE_DIRS, "common", "protocols"})


# Files QAI101 always reports missing, per layout (app.py is not one: a shared App exported
# from __init__.py stands in for it, so a deleted app.py is this rule's to report).
_REQUIRED = {
    Layout.INFO: frozenset({"model.py", "demo.py", "test.py"}),
    Layout.MANIFEST: frozenset({"model.py"}),
}


@dataclass(frozen=True)
class _Import:
    source: SourceFile
    node: ast.ImportFrom | ast.Import
    folder: str  # the model folder the import reaches (its id)
    module: str  # the module inside that folder, slash-separated ("" for its __init__)
    names: tuple[ast.alias, ...]  # imported names (empty for ``import a.b.c``)


def _may_fail(statement: ast.Try | ast.If) -> bool:
    """``try: ... except ImportError`` and ``if TYPE_CHECKING:`` hold imports allowed to fail."""
    if isinstance(statement, ast.If):
        return "TYPE_CHECKING" in ast.unparse(statement.test)
    return any(
        handler.type is None
        or any(
            isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
            for n in ast.walk(handler.type)
        )
        for handler in statement.handlers
    )


def _import_time(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported (not those allowed to fail)."""
    for statement in body:
        if isinstance(statement, (ast.If, ast.Try)) and _may_fail(statement):
            continue
        yield statement
        if isinstance(statement, ast.If):
            yield from _import_time(statement.body)
            yield from _import_time(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, statement.orelse, statement.finalbody):
                yield from _import_time(block)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            yield from _import_time(statement.body)


def _imports(folder: ModelFolder, source: SourceFile) -> Iterator[_Import]:
    """The imports of ``source`` that reach a model folder, with the folder and module."""
    try:
        tree = source.tree
    except SourceError:
        return  # QAI000 reports it
    own = folder.model_id
    for node in _import_time(tree.body):
        if not isinstance(node, (ast.ImportFrom, ast.Import)):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            # ``from .x import y`` in a folder's top-level module; deeper levels leave it.
            if node.level != 1 or source.path.parent != folder.path:
                continue
            module = (node.module or "").replace(".", "/")
            yield _Import(source, node, own, module, tuple(node.names))
            continue
        targets = (
            [(node.module or "", tuple(node.names))]
            if isinstance(node, ast.ImportFrom)
            else [(alias.name, ()) for alias in node.names]
        )
        for dotted_name, names in targets:
            if not dotted_name.startswith(_MODELS):
                continue
            parts = dotted_name[len(_MODELS) :].split(".")
            if parts[0] in _LIBRARIES or parts[0].startswith("_"):
                continue
            yield _Import(source, node, parts[0], "/".join(parts[1:]), names)


def _module_file(folder: ModelFolder, module: str) -> tuple[SourceFile | None, bool]:
    """(the file of ``module`` in the folder, whether it is a package)."""
    if not module:
        return folder.file("__init__.py"), True
    source = folder.file(f"{module}.py")
    if source is not None:
        return source, False
    return folder.file(f"{module}/__init__.py"), True


def _bindings(source: SourceFile) -> dict[str, ast.stmt] | None:
    """Names a module binds, or None when it cannot be known statically."""
    try:
        bound = module_bindings(source)
        tree = source.tree
    except SourceError:
        return None
    if "__getattr__" in bound or any(
        isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names) for s in tree.body
    ):
        return None
    return bound


class BrokenLocalImport(FolderRule):
    summary = "A module of the folder imports a module or name of the folder that does not exist."
    why = (
        "Deleting or renaming a file (`app.py`) while `__init__.py`, `demo.py` or `test.py` "
        "still import it breaks the folder: the package no longer imports, so the generated "
        "export, the tests and every tool that imports the model fail. Imports that may fail "
        "by design (under `try: ... except ImportError` or `if TYPE_CHECKING:`) are skipped."
    )
    valid = (
        Valid(),
        Valid(
            "try:\n    from .extras import Visualizer\nexcept ImportError:\n    Visualizer = None\n"
            "from .app import ExampleApp as App\nfrom .model import ExampleModel as Model\n",
            path="__init__.py",
            note="An optional import.",
        ),
    )
    invalid = (
        Invalid(files={"app.py": None}, path="__init__.py", note="app.py was deleted."),
        Invalid(
            "from .app import ExampleApp as App\nfrom .model import ExampleNet as Model\n",
            path="__init__.py",
            note="A class renamed in model.py.",
        ),
        Invalid(
            "from qai_hub_models.models.example.demo import run as demo_main\n\n\n"
            "def test_demo():\n    demo_main(is_test=True)\n",
            path="test.py",
        ),
    )

    def check(self) -> None:
        folder = self.folder
        for source in folder.python_files():
            for found in _imports(folder, source):
                if found.folder == folder.model_id:
                    self._check(found)

    def _check(self, found: _Import) -> None:
        folder = self.folder
        top = found.module.split("/", 1)[0]
        if "/" in found.module:
            # Inside a package of the folder: its content may be made at run time (the
            # newer layout's external_repos/ clones there), so only its existence is checked.
            if not (folder.has(f"{top}.py") or (folder.path / top).is_dir()):
                self._report(found, f"{folder.model_id} has no module `{top}`")
            return
        target, is_package = _module_file(folder, found.module)
        if target is None:
            if not found.module or (folder.path / found.module).is_dir():
                return  # no __init__.py (QAI103 reports it), or a namespace package
            if f"{found.module}.py" in _REQUIRED[folder.layout]:
                return  # QAI101 reports the missing file itself
            self._report(found, f"{folder.model_id} has no module `{found.module}`")
            return
        if target.path == found.source.path:
            return
        bound = _bindings(target)
        if bound is None:
            return
        for alias in found.names:
            name = alias.name
            if name == "*" or name in bound:
                continue
            if is_package and (
                folder.has(f"{found.module}/{name}.py".lstrip("/"))
                or folder.has(f"{found.module}/{name}/__init__.py".lstrip("/"))
            ):
                continue  # a submodule
            self._report(
                found, f"`{name}` is not defined in {target.path.name} of {folder.model_id}"
            )

    def _report(self, found: _Import, problem: str) -> None:
        self.report_node(
            found.source,
            found.node,
            f"{problem}: the folder no longer imports; restore it or fix the import",
        )


# Names that make a folder's entry points stand for a model: the class, its app and its id.
_IDENTITY = {"__init__.py": ("Model", "MODEL_ID"), "conftest.py": ("Model", "MODEL_ID")}
_TEST_IDENTITY = ("Model", "App", "MODEL_ID")


def _float_parent(model_id: str) -> str | None:
    """``<id>`` for ``<id>_quantized``: the variant shares its float parent's model by design."""
    return model_id.removesuffix("_quantized") if model_id.endswith("_quantized") else None


class ForeignModelImport(FolderRule):
    summary = (
        "The folder has its own model.py, yet its entry points take `Model`, `MODEL_ID` or the "
        "demo from another model folder."
    )
    why = (
        "The usual onboarding move is to copy a similar model's folder; the copy's "
        "`__init__.py`, `test.py` and `conftest.py` then still export and test the original "
        "model, so its tests pass while checking nothing of the new one (0.46.1's "
        "regnet_y_800mf and video_mae tests ran regnet's and resnet_3d's demo; 0.65 fixed "
        "both; whisper_base_en and whisper_small_en ran whisper_tiny_en's demo for 50 releases "
        "until v0.28.0). Reusing another model's code (a shared App, a post-processing "
        "function, a base class) is fine and not reported, and so is a `<id>_quantized` "
        "variant taking what it needs from its float parent `<id>`."
    )
    valid = (
        Valid(
            "from qai_hub_models.models.other.app import OtherDetectionApp as App\n"
            "from .model import MODEL_ID\nfrom .model import ExampleModel as Model\n",
            path="__init__.py",
            note="Another model's App, reused (yolov11_det uses yolov8_det's).",
        ),
        Valid(
            "from qai_hub_models.models.other.model import postprocess\n\n\n"
            "def test_task():\n    assert postprocess\n\n\ndef test_demo():\n    pass\n",
            path="test.py",
        ),
    )
    invalid = (
        Invalid(
            "from qai_hub_models.models.other.demo import main as demo_main\n"
            "from qai_hub_models.models.other.model import MODEL_ID\n\n\n"
            "def test_demo():\n    demo_main(is_test=True)\n",
            path="test.py",
            note="A copied test still runs the original model's demo.",
        ),
        Invalid(
            "from qai_hub_models.models.other.model import OtherModel as Model\n",
            path="__init__.py",
        ),
    )

    def check(self) -> None:
        folder = self.folder
        if not folder.has("model.py"):
            return
        for name in ("__init__.py", "conftest.py", "test.py", "demo.py"):
            source = folder.file(name)
            if source is None:
                continue
            for found in _imports(folder, source):
                if found.folder in (folder.model_id, _float_parent(folder.model_id)):
                    continue
                for alias in found.names:
                    if self._stands_for_model(name, found, alias):
                        self._report(found, alias)

    @staticmethod
    def _stands_for_model(file_name: str, found: _Import, alias: ast.alias) -> bool:
        if found.module == "demo" and alias.name == "main":
            return file_name in ("test.py", "demo.py")
        identity = _IDENTITY.get(file_name, _TEST_IDENTITY)
        return alias.name in identity or (alias.asname in identity and alias.asname != "App")

    def _report(self, found: _Import, alias: ast.alias) -> None:
        imported = alias.name + (f" as {alias.asname}" if alias.asname else "")
        where = f"{found.folder}.{found.module.replace('/', '.')}".rstrip(".")
        start, end = found.source.node_span(found.node)
        self.report(
            found.source,
            f"`{imported}` comes from model folder {where}, but {self.folder.model_id} has its "
            f"own model.py: a copied folder still pointing at the original? Import it from "
            f"{self.folder.model_id}",
            start=start,
            end=end if end.row == start.row else Location(start.row, start.column + 1),
        )
