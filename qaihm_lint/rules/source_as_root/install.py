"""What SourceAsRoot clones: not something pip installs (QAI403), with its patches present
(QAI404)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.model_class._analysis import display_path
from qaihm_lint.rules.source_as_root._analysis import SourceAsRootRule, argument_node
from qaihm_lint.rules.source_as_root._examples import CODE_GEN_REPOS, FULL, MANIFEST, SAR_MODEL
from qaihm_lint.rules.source_as_root._external_repos import external_repos, find_line, line_span
from qaihm_lint.sources import SourceError, note_access
from qaihm_lint.workspace import Layout


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "", name.lower())


def _repo_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail[:-4] if tail.endswith(".git") else tail


def _requirements(folder_text: str | None) -> list[tuple[str, str]]:
    """(normalised name, raw line) of each requirement, and git URLs as names too."""
    found = []
    for raw in (folder_text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.search(r"git\+(https?://[^@#\s]+)", line)
        if match:
            found.append(("url:" + _normalise_url(match.group(1)), raw))
            continue
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if name:
            found.append((_normalise(name.group(0)), raw))
    return found


def _normalise_url(url: str) -> str:
    url = url.lower().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    return re.sub(r"^https?://(www\.)?", "", url)


class SourceAsRootPipInstallable(SourceAsRootRule):
    summary = (
        "The repo is installable with pip (same package in requirements, git+https, or "
        "a configured known-pip list)."
    )
    why = (
        "The guide prefers `pip install` (from PyPI or `git+https://...@<sha>`) over cloning "
        "with SourceAsRoot. A name on PyPI alone proves nothing (many are squatted), so only "
        "the folder's requirements or the configured `known-pip-installable` list count."
    )
    valid = (Valid(SAR_MODEL.format(sha=FULL, extra="")),)
    invalid = (
        Invalid(
            SAR_MODEL.format(sha=FULL, extra=""), files={"requirements.txt": "upstream==1.2.0\n"}
        ),
        Invalid(
            SAR_MODEL.format(sha=FULL, extra=""),
            files={"requirements.txt": f"git+https://github.com/example/upstream.git@{FULL}\n"},
        ),
        Invalid(
            files={
                "code-gen.yaml": CODE_GEN_REPOS.format(sha=FULL, patch="p.diff"),
                "external_repos/p.diff": "",
                "requirements.txt": "rfdetr==1.6.5\n",
            },
            path="code-gen.yaml",
            note="code-gen.yaml's `external_repos` (rf_detr cloned rf-detr until 0.57.0; "
            'without the requirement, `known-pip-installable = ["rfdetr"]` says it).',
        ),
    )

    def check(self) -> None:
        requirements_file = self.folder.file("requirements.txt")
        try:
            text = requirements_file.text if requirements_file is not None else None
        except SourceError:
            text = None
        requirements = _requirements(text)
        known = [_normalise(k) for k in self.ctx.settings.known_pip_installable]
        for use, url in self.argument_values("source_repo_url"):
            if not isinstance(url, str):
                continue
            reason = self._reason(url, requirements, known)
            if reason:
                self.report_use(
                    use,
                    use.node,
                    f"SourceAsRoot clones {url}, but {reason}: "
                    "install it with pip (requirements.txt) instead of cloning",
                )
        for repo in external_repos(self):
            source = repo.source
            url = repo.data.get("repo_url")
            if not isinstance(url, str):
                continue
            reason = self._reason(url, requirements, known)
            if reason:
                start, end = line_span(source, repo.line, repo.name)
                self.report(
                    source,
                    f"external repo {repo.name!r} ({url}) is cloned, but "
                    f"{reason}: install it with pip instead",
                    start=start,
                    end=end,
                )

    @staticmethod
    def _reason(url: str, requirements: list[tuple[str, str]], known: list[str]) -> str:
        name = _normalise(_repo_name(url))
        normal_url = _normalise_url(url)
        for key, raw in requirements:
            if key == "url:" + normal_url:
                return f"requirements.txt installs it from git ({raw.strip()})"
            if name and key == name:
                return f"requirements.txt already installs {raw.strip()!r}"
        for entry in known:
            if entry and (entry == name or entry == _normalise(normal_url)):
                return "it is listed as pip-installable in the configuration"
        return ""


class SourceAsRootMissingPatch(SourceAsRootRule):
    summary = (
        "source_repo_patches (or an `external_repos` `patches_filename`) names a file that "
        "does not exist."
    )
    why = "SourceAsRoot applies each patch after cloning; a missing one fails at run time."
    valid = (
        Valid(
            SAR_MODEL.format(
                sha=FULL,
                extra=", source_repo_patches=[os.path.join("
                "os.path.dirname(__file__), 'patches', 'fix.diff')]",
            ),
            files={"patches/fix.diff": "--- a\n+++ b\n"},
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
        Invalid(
            SAR_MODEL.format(
                sha=FULL,
                extra=", source_repo_patches=[os.path.join("
                "os.path.dirname(__file__), 'patches', 'fix.diff')]",
            )
        ),
        Invalid(
            files={"manifest.yaml": MANIFEST.format(sha=FULL, patch="p.diff")},
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
        Invalid(
            files={"code-gen.yaml": CODE_GEN_REPOS.format(sha=FULL, patch="p.diff")},
            path="code-gen.yaml",
        ),
    )

    def check(self) -> None:
        view = self.view()
        for use, patches in self.argument_values("source_repo_patches"):
            items = patches if isinstance(patches, list) else [patches]
            for item in items:
                if not isinstance(item, str) or not os.path.isabs(item):
                    continue
                if (
                    Path(item).parent.parent != self.folder.path
                    and Path(item).parent != self.folder.path
                ):
                    note_access(Path(item))  # a patch named by a _shared constant
                if not os.path.exists(item):
                    self.report_use(
                        use,
                        argument_node(use, "source_repo_patches"),
                        f"SourceAsRoot patch {display_path(view, item)} does not exist: "
                        "add the patch file or fix the path",
                    )
        for repo in external_repos(self):
            source = repo.source
            name = repo.data.get("patches_filename")
            if not isinstance(name, str) or not name:
                continue
            candidates = [self.folder.path / "external_repos" / name, self.folder.path / name]
            if any(c.exists() for c in candidates):
                continue
            row = find_line(source, repo.line, r"^\s+patches_filename\s*:") or repo.line
            start, end = line_span(source, row, "patches_filename")
            self.report(
                source,
                f"external repo {repo.name!r} names patch {name!r}, but "
                f"external_repos/{name} does not exist: add it or fix the name",
                start=start,
                end=end,
            )
