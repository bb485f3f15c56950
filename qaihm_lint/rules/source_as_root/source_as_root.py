"""SourceAsRoot: pinned commits, not at import, and a last resort only (QAI401, QAI402, QAI405).

The newer releases replace SourceAsRoot with ``external_repos`` (code-gen.yaml from 0.52.0,
manifest.yaml from 0.59.0); QAI401, QAI403 and QAI404 read those entries there (see
``_external_repos``).
"""

from __future__ import annotations

from qaihm_lint.diagnostics import Severity
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.source_as_root._analysis import (
    FULL_SHA,
    SourceAsRootRule,
    Unknown,
    argument_node,
    scan_folder,
    value_of,
)
from qaihm_lint.rules.source_as_root._examples import CODE_GEN_REPOS, FULL, MANIFEST, SAR_MODEL
from qaihm_lint.rules.source_as_root._external_repos import external_repos, find_line, line_span
from qaihm_lint.workspace import Layout


class SourceAsRootUnpinnedCommit(SourceAsRootRule):
    summary = (
        "source_repo_commit_hash (or an `external_repos` commit_sha, in manifest.yaml or "
        "code-gen.yaml) is not a full 40-hex SHA."
    )
    why = (
        "A branch, tag or short hash can move or become ambiguous, so the cloned code (and the "
        "patches applied to it) silently changes under the model."
    )
    valid = (
        Valid(SAR_MODEL.format(sha=FULL, extra="")),
        Valid(
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot as SAR\n\n\n"
            "def load(commit=None):\n"
            f"    sha = '{FULL}'\n"
            "    with SAR('https://github.com/a/b', sha, 'b', 1):\n        pass\n",
            note="Imported under another name; a function-local constant.",
        ),
        Valid(
            files={
                "manifest.yaml": MANIFEST.format(sha=FULL, patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
    )
    invalid = (
        Invalid(SAR_MODEL.format(sha="84932d7", extra="")),
        Invalid(
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n\n"
            "def load():\n"
            "    with SourceAsRoot(\n        source_repo_url='https://github.com/a/b',\n"
            "        source_repo_commit_hash='main',\n        source_repo_name='b',\n"
            "        source_repo_version=1,\n    ):\n        pass\n",
            note="Keyword arguments; a branch name.",
        ),
        Invalid(
            files={
                "manifest.yaml": MANIFEST.format(sha="84932d7", patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
        Invalid(
            files={
                "code-gen.yaml": CODE_GEN_REPOS.format(sha="1e63dba", patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="code-gen.yaml",
            note="code-gen.yaml's `external_repos`, in the releases between the two layouts.",
        ),
    )

    def check(self) -> None:
        view = self.view()
        for use, value in self.argument_values("source_repo_commit_hash"):
            if isinstance(value, str) and FULL_SHA.fullmatch(value):
                continue
            try:
                url = f" of {value_of(view, use, 'source_repo_url')}"
            except Unknown:
                url = ""
            self.report_use(
                use,
                argument_node(use, "source_repo_commit_hash"),
                f"SourceAsRoot commit {value!r}{url} is not a full 40-character "
                "commit SHA: pin the full hash (`git rev-parse <ref>`)",
            )
        for repo in external_repos(self):
            source = repo.source
            sha = repo.data.get("commit_sha")
            if isinstance(sha, str) and FULL_SHA.fullmatch(sha):
                continue
            row = find_line(source, repo.line, r"^\s+commit_sha\s*:") or repo.line
            start, end = line_span(source, row, "commit_sha" if sha is not None else repo.name)
            what = f"commit_sha {sha!r}" if sha is not None else "no commit_sha"
            self.report(
                source,
                f"external repo {repo.name!r} has {what}, not a full "
                "40-character commit SHA: pin the full hash",
                start=start,
                end=end,
            )


class SourceAsRootAtImport(SourceAsRootRule):
    summary = "SourceAsRoot entered at module import time."
    why = (
        "Importing the model package (which codegen, tests and `qai_hub_models` tooling do "
        "for every model) would clone a repository and mutate sys.path; clone lazily inside "
        "from_pretrained or the function that needs it. Off by default: the six import-time "
        "uses of the 0.46.1 release stayed there for every release after they were written, "
        "and the newer layout's `external_repos/__init__.py` clones at import by design, so "
        "upstream accepts the shape; enable it where lazy cloning is your project's policy."
    )
    valid = (Valid(SAR_MODEL.format(sha=FULL, extra="")),)
    invalid = (
        Invalid(
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n"
            f"with SourceAsRoot('https://github.com/a/b', '{FULL}', 'b', 1):\n"
            "    import b\n"
        ),
        Invalid(
            "from qai_hub_models.models._shared.centernet.model import CenterNetAsRoot\n\n"
            "with CenterNetAsRoot() as repo:\n    import centernet\n",
            package_files={
                "models/_shared/centernet/__init__.py": "",
                "models/_shared/centernet/model.py": "from functools import partial\n\n"
                "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n"
                "CenterNetAsRoot = partial(SourceAsRoot, 'https://github.com/x/c', "
                f"'{FULL}', 'c', 1)\n",
            },
            note="A functools.partial alias defined in _shared.",
        ),
    )

    def check(self) -> None:
        for use in scan_folder(self).uses:
            if use.at_import:
                self.report_use(
                    use,
                    use.node,
                    f"{use.callee}(...) runs when "
                    f"{use.source.path.name} is imported: move it into the function "
                    "that needs the upstream code (e.g. from_pretrained)",
                )


class SourceAsRootUsed(SourceAsRootRule):
    summary = "Any use of SourceAsRoot: last resort, justify with `# noqa` and a reason."
    why = (
        "The guide ranks monkeypatching and pip (PyPI or git+https) above cloning upstream "
        "source; each remaining use should say why the others do not work."
    )
    severity = Severity.WARNING
    valid = (Valid(),)
    invalid = (Invalid(SAR_MODEL.format(sha=FULL, extra="")),)

    def check(self) -> None:
        for use in scan_folder(self).uses:
            self.report_use(
                use,
                use.node,
                f"{use.callee}(...) clones upstream source: prefer "
                "monkeypatching or a pip install; if neither works, say why in a "
                "`# noqa: QAI405` comment",
            )
