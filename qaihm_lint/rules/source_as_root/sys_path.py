"""``sys.path`` is edited only inside SourceAsRoot, which restores it (QAI406)."""

from __future__ import annotations

from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.source_as_root._analysis import SourceAsRootRule, scan_folder
from qaihm_lint.rules.source_as_root._examples import FULL


class SysPathManipulation(SourceAsRootRule):
    summary = "sys.path edited outside SourceAsRoot."
    why = (
        "SourceAsRoot restores sys.path on exit; an edit anywhere else leaks into every later "
        "import of the process (tests, export of other models)."
    )
    valid = (
        Valid(
            "import os\nimport sys\n\n"
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n\n"
            "def load():\n"
            f"    with SourceAsRoot('https://github.com/a/b', '{FULL}', 'b', 1) as repo:\n"
            "        sys.path.insert(0, os.path.join(repo, 'src'))\n"
        ),
    )
    invalid = (
        Invalid("import sys\n\n\ndef load():\n    sys.path.insert(0, '/opt/upstream')\n"),
        Invalid(
            "import sys\n\n"
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n\n"
            "def load():\n"
            f"    with SourceAsRoot('https://github.com/a/b', '{FULL}', 'b', 1):\n"
            "        pass\n    sys.path.append('lib')\n",
            note="After the context has exited.",
        ),
    )

    def check(self) -> None:
        for edit in scan_folder(self).sys_path:
            if edit.guarded:
                continue
            self.report_node(
                edit.source,
                edit.node,
                "sys.path is edited outside a SourceAsRoot "
                "context and is never restored: do it inside `with "
                "SourceAsRoot(...)` (which restores it) or import the module "
                "another way",
            )
