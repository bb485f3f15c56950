"""Hosted assets are read at a pinned version (QAI703)."""

from __future__ import annotations

import ast

from qaihm_lint.index import dotted, top_level_statements
from qaihm_lint.rules.base import Invalid, PythonRule, Valid

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
