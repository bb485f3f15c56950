"""Model code must run on a CPU (QAI501, QAI502)."""

from __future__ import annotations

import ast
import re
from typing import ClassVar

from qaihm_lint.diagnostics import Applicability, Fix
from qaihm_lint.index import dotted
from qaihm_lint.rules.base import Invalid, PythonRule, Valid

_CUDA = re.compile(r"cuda(:\d+)?")
_LOADS = frozenset({"torch.load", "torch.jit.load"})


def _mentions_availability(node: ast.AST) -> bool:
    """A condition that checks for a GPU (``torch.cuda.is_available()``, ``device_count()``,
    ``device.type == "cuda"``...)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute) and inner.attr in ("is_available", "device_count"):
            return True
        if (
            isinstance(inner, ast.Constant)
            and isinstance(inner.value, str)
            and _CUDA.fullmatch(inner.value)
        ):
            return True
    return False


def _mentions_cpu(node: ast.AST) -> bool:
    return any(isinstance(inner, ast.Constant) and inner.value == "cpu" for inner in ast.walk(node))


class HardcodedCuda(PythonRule):
    triggers = ("cuda",)
    summary = 'Unguarded `.cuda()`, `"cuda"` devices or `torch.device("cuda")` in model code.'
    why = (
        "All models must run on CPU (the guide's second design goal): export, tests and the "
        "CI machines have no GPU. Use the GPU only under `torch.cuda.is_available()`."
    )
    fix_applicability = Applicability.UNSAFE
    fix_note = 'Unsafe: `.cuda()` becomes `.cpu()` and the `"cuda"` device string `"cpu"`.'
    files = ("*.py",)
    valid = (
        Valid(
            "import torch\n\n\ndef load(model):\n"
            '    device = "cuda" if torch.cuda.is_available() else "cpu"\n'
            "    return model.to(device)\n"
        ),
        Valid(
            "import torch\n\n\ndef load(model, device):\n"
            "    if torch.cuda.is_available():\n        model = model.cuda()\n"
            "    return model.to(device)\n"
        ),
        Valid(
            "import pytest\nimport torch\n\n\n"
            '@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda")\n'
            'def test_gpu():\n    assert torch.device("cuda")\n',
            path="test.py",
            note="A test skipped without a GPU.",
        ),
        Valid(
            'def place(x, device):\n    if device == "cuda":\n        return x\n'
            "    return x.to(device)\n"
        ),
        Valid(
            "import torch\n\n\ndef load(gpu_id: int = -1):\n"
            '    return torch.device("cpu") if gpu_id < 0 else '
            'torch.device("cuda", gpu_id)\n',
            note="The GPU only on the caller's explicit request; the default is the CPU.",
        ),
    )
    invalid = (
        Invalid(
            'import torch\n\n\ndef load(model):\n    return model.to("cuda")  # gpu\n',
            fixed='import torch\n\n\ndef load(model):\n    return model.to("cpu")  # gpu\n',
        ),
        Invalid(
            "def load(model):\n    return model.cuda()\n",
            fixed="def load(model):\n    return model.cpu()\n",
        ),
        Invalid(
            "import torch\n\nDEVICE = torch.device('cuda:0')\n",
            fixed="import torch\n\nDEVICE = torch.device('cpu')\n",
        ),
    )

    def _guarded(self, *path: ast.AST) -> bool:
        """Whether the node at the end of ``path`` (below the current ancestors) is guarded."""
        chain = [*self.ancestors, *path]
        for i, ancestor in enumerate(chain[:-1]):
            child = chain[i + 1]
            if (
                isinstance(ancestor, (ast.If, ast.IfExp, ast.While))
                and child is not ancestor.test
                and _mentions_availability(ancestor.test)
            ):
                return True
            if isinstance(ancestor, ast.IfExp) and child is not ancestor.test:
                # `cpu if use_cpu else cuda`: a choice whose other branch is the CPU.
                other = ancestor.orelse if child is ancestor.body else ancestor.body
                if _mentions_cpu(other):
                    return True
            if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
                child is d for d in ancestor.decorator_list
            ):
                return True
            if isinstance(ancestor, (ast.Compare, ast.Assert)):
                return True
            if isinstance(ancestor, ast.BoolOp) and any(
                _mentions_availability(v) for v in ancestor.values if v is not child
            ):
                return True
        return False

    def _fix(self, node: ast.AST, what: str) -> Fix | None:
        from qaihm_lint.fixers.python_fixes import cuda_to_cpu

        start, _ = self.source.node_span(node)
        return self.cst_fix(cuda_to_cpu(start.row, start.column), what, Applicability.UNSAFE)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "cuda"
            and dotted(node.func) != "torch.cuda"
            and not self._guarded(node)
        ):
            self.report_here(
                node,
                "`.cuda()` moves to a GPU unconditionally; models must run on "
                "CPU: use `.to(device)` with a device chosen by "
                "`torch.cuda.is_available()`",
                fix=self._fix(node, "use .cpu()"),
            )
            return
        for arg in node.args:
            self._check_string(arg, node)
        for keyword in node.keywords:
            self._check_string(keyword.value, node, keyword)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_string(node.value, node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_string(node.value, node)

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in [*node.defaults, *(d for d in node.kw_defaults if d is not None)]:
            self._check_string(default, node)

    def _check_string(self, value: ast.AST, *parents: ast.AST) -> None:
        if not (
            isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and _CUDA.fullmatch(value.value)
        ):
            return
        if self._guarded(*parents, value):
            return
        self.report_here(
            value,
            f"device {value.value!r} is hard-coded; models must run on CPU: "
            "choose the device with `torch.cuda.is_available()` (or use "
            '"cpu")',
            fix=self._fix(value, 'use "cpu"'),
        )


class TorchLoadWithoutMapLocation(PythonRule):
    triggers = ("load",)
    summary = "torch.load / torch.jit.load without map_location."
    why = (
        "A checkpoint saved on a GPU loads back onto the GPU, and fails on a machine without "
        'one. `map_location="cpu"` (or the package\'s `load_torch`) loads it anywhere.'
    )
    needs_index: ClassVar[bool] = True
    shared_code = True
    fix_applicability = Applicability.SAFE
    fix_note = 'Adds `map_location="cpu"`.'
    files = ("*.py",)
    valid = (
        Valid("import torch\n\n\ndef load(p):\n    return torch.load(p, map_location='cpu')\n"),
        Valid(
            "import torch\n\n\ndef load(p):\n    return torch.load(p, 'cpu')\n",
            note="map_location passed positionally.",
        ),
        Valid(
            "from qai_hub_models.utils.asset_loaders import load_torch\n\n\n"
            "def load(p):\n    return load_torch(p)\n"
        ),
        Valid("import torch\n\n\ndef load(p, **kwargs):\n    return torch.load(p, **kwargs)\n"),
        Valid(
            "import torch\n\n\nclass Cache:\n    def build(self, data):\n"
            "        torch.save(data, self.path)\n\n    def read(self):\n"
            "        return torch.load(self.path, weights_only=True)\n",
            note="Reads back what the same file saved from its own tensors.",
        ),
    )
    invalid = (
        Invalid(
            "import torch\n\n\ndef load(p):\n    return torch.load(p)\n",
            fixed='import torch\n\n\ndef load(p):\n    return torch.load(p, map_location="cpu")\n',
        ),
        Invalid(
            "import torch as T\n\n\ndef load(p):\n"
            "    return T.jit.load(\n        p,\n    ).eval()\n",
            fixed="import torch as T\n\n\ndef load(p):\n"
            '    return T.jit.load(\n        p,\n        map_location="cpu",\n'
            "    ).eval()\n",
            note="An aliased import; a call chained on.",
        ),
        Invalid(
            "from torch import load\n\n\ndef f(p):\n    return load(p, weights_only=True)\n",
            fixed="from torch import load\n\n\ndef f(p):\n"
            '    return load(p, weights_only=True, map_location="cpu")\n',
        ),
    )

    def begin_file(self) -> None:
        self._view = self.ctx.view
        self._module = self._view.module_of_file(self.source.path.name)
        # Bare names a call could reach torch.load through (`from torch import load as tl`);
        # every other bare call is skipped without resolving it.
        info = self._view.module(self._module)
        self._load_names = {
            name
            for name, binding in (info.bindings.items() if info is not None else ())
            if binding.kind == "import" and binding.attr == "load"
        } | {"load"}
        # The path expressions this file passes to torch.save: loading them back reads what
        # the same code wrote from its own (CPU) tensors, not a checkpoint from elsewhere. A
        # save may come after the load in the file, so loads are judged in end_file.
        self._saved_to: set[str] = set()
        self._loads: list[tuple[ast.Call, str]] = []

    def _note_save(self, node: ast.Call) -> None:
        if not dotted(node.func).endswith("save") or self._qualified(node) != "torch.save":
            return
        target = node.args[1] if len(node.args) >= 2 else None
        for keyword in node.keywords:
            if keyword.arg == "f":
                target = keyword.value
        if target is not None:
            self._saved_to.add(ast.dump(target))

    def _qualified(self, node: ast.Call) -> str:
        name = dotted(node.func)
        if not name:
            return ""
        symbol = self._view.resolve(self._module, name)
        if symbol.kind == "external":
            return symbol.qualified
        if symbol.kind == "unknown" and name in _LOADS:
            return name  # `import torch` inside the function
        return ""

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr != "load":
                if func.attr == "save":
                    self._note_save(node)
                return
        elif not (isinstance(func, ast.Name) and func.id in self._load_names):
            if isinstance(func, ast.Name) and func.id.endswith("save"):
                self._note_save(node)
            return
        qualified = self._qualified(node)
        if qualified not in _LOADS:
            return
        if (
            len(node.args) >= 2
            or any(k.arg in (None, "map_location") for k in node.keywords)
            or any(isinstance(a, ast.Starred) for a in node.args)
        ):
            return
        self._loads.append((node, qualified))

    def end_file(self) -> None:
        from qaihm_lint.fixers.python_fixes import add_map_location

        for node, qualified in self._loads:
            if node.args and ast.dump(node.args[0]) in self._saved_to:
                continue
            start, _ = self.source.node_span(node)
            self.report_here(
                node,
                f"{qualified}() without map_location loads tensors onto the "
                "device they were saved from (a GPU fails on CPU machines): pass "
                'map_location="cpu" or use qai_hub_models\' load_torch',
                fix=self.cst_fix(
                    add_map_location(start.row, start.column), 'add map_location="cpu"'
                ),
            )
