"""Which model folders a run checks beyond the PATHs themselves: those a git change touches
(``--changed-since``), those whose classes depend on shared code passed as a PATH (pre-commit
passes the files a commit changes), and why a run ends up with none.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from qaihm_lint.context import INDEXES
from qaihm_lint.workspace import (
    GLOBAL_REQUIREMENTS,
    ModelFolder,
    Workspace,
    WorkspaceError,
    layout_of,
)

# ``--changed-since pre-commit``: the refs of ``pre-commit run --from-ref A --to-ref B``.
PRE_COMMIT_REF = "pre-commit"


def changed_files(ref: str, cwd: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every file a pull request from ``ref`` changes: the difference between the merge base of
    ``ref`` and HEAD and the work tree (committed, staged or not), and new files not ignored —
    ``git diff ref...HEAD``'s semantics, so that what changed only on ``ref`` is not checked.

    Under ``pre-commit run --from-ref A --to-ref B`` (PRE_COMMIT_FROM_REF/TO_REF in the
    environment) the end is B instead of the work tree, and a ``ref`` of ``pre-commit`` stands
    for A: the same files pre-commit itself passes."""
    environ = os.environ if environ is None else environ
    to_ref = environ.get("PRE_COMMIT_TO_REF") or None
    if ref == PRE_COMMIT_REF:
        from_ref = environ.get("PRE_COMMIT_FROM_REF")
        if not from_ref or not to_ref:
            raise WorkspaceError(
                f"--changed-since {PRE_COMMIT_REF}: only under `pre-commit run --from-ref A "
                "--to-ref B` (PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF are not set)"
            )
        ref = from_ref
    for name in (ref, to_ref):
        if name is not None and (not name or name.startswith("-")):
            # git would read it as an option (`--output=FILE` writes a file).
            raise WorkspaceError(f"--changed-since {name!r}: not a git ref")

    def git(*command: str, where: Path = cwd, silent: str = "git failed") -> str:
        try:
            completed = subprocess.run(
                ["git", *command], cwd=where, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise WorkspaceError(f"--changed-since needs git: {exc}") from exc
        if completed.returncode != 0:
            detail = completed.stderr.strip().splitlines()
            raise WorkspaceError(f"--changed-since {ref}: {detail[-1] if detail else silent}")
        return completed.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    end = to_ref or "HEAD"
    # --end-of-options as well: whatever the ref is, git reads it as a revision.
    commits = [
        git("rev-parse", "--verify", "--end-of-options", f"{name}^{{commit}}").strip()
        for name in (ref, end)
    ]
    base = git(
        "merge-base",
        "--end-of-options",
        *commits,
        # A CI checkout of depth 1 has no history to find it in.
        silent=f"{ref} and {end} have no common ancestor here (a shallow clone? fetch the "
        "history, e.g. actions/checkout with fetch-depth: 0)",
    ).strip()
    # From the top of the work tree: `ls-files` lists only the cwd's subtree, relative to the
    # cwd, and a new model folder is exactly an untracked one. -z: no quoting of unusual
    # names; --no-renames: a file moved out of a folder changes that folder too.
    diff = ["diff", "--name-only", "-z", "--no-renames", base]
    if to_ref:
        names = git(*diff, commits[1], "--", where=top).split("\0")
    else:
        names = git(*diff, "--", where=top).split("\0")
        names += git("ls-files", "-z", "--others", "--exclude-standard", where=top).split("\0")
    return [top / name for name in names if name]


def restrict_to_changed(workspace: Workspace, changed: list[Path]) -> Workspace:
    """The folders a change can affect: those it touches, and the dependants of changed shared
    code (through the index: the modules their classes inherit from or import). A change to
    global_requirements.txt, or to shared files that are not Python modules, affects all."""
    resolved = {path.resolve() for path in changed}
    affected: set[Path] = set()
    for package in workspace.packages:
        folders = [f.path for f in workspace.folders if f.package is package]
        shared: list[Path] = []
        for path in resolved:
            try:
                parts = path.relative_to(package.root).parts
            except ValueError:
                continue
            if any(path == folder or folder in path.parents for folder in folders):
                continue  # a model folder's own file: handled below
            if parts == (GLOBAL_REQUIREMENTS,) or (path.suffix != ".py" and is_shared(parts)):
                affected.update(folders)
                break
            if is_shared(parts):
                shared.append(path)
        else:
            if shared:
                # The engine's own index (built once, inherited by workers), not a second one.
                affected.update(INDEXES.get(package).dependants(*shared, among=folders))
    for path in resolved:
        for folder in workspace.folders:
            if path == folder.path or folder.path in path.parents:
                affected.add(folder.path)
    keep = [folder for folder in workspace.folders if folder.path in affected]
    shared_code = [
        folder for folder in workspace.shared if any(p.parent == folder.path for p in resolved)
    ]
    return Workspace(workspace.packages, keep, workspace.skipped, shared_code)


def with_dependants(workspace: Workspace, exclude: Sequence[str]) -> Workspace:
    """Shared modules passed as PATHs (pre-commit passes the files a commit changes) stand for
    the model folders whose classes depend on them."""
    folders = {folder.path: folder for folder in workspace.folders}
    for package in workspace.packages:
        shared = []
        for raw in workspace.skipped:
            path = raw.resolve()
            try:
                parts = path.relative_to(package.root).parts
            except ValueError:
                continue
            if path.suffix == ".py" and is_shared(parts):
                shared.append(path)
        if not shared:
            continue
        for folder_path in INDEXES.get(package).dependants(*shared):
            if folder_path in folders or any(
                fnmatch.fnmatchcase(folder_path.name, pattern) for pattern in exclude
            ):
                continue
            folders[folder_path] = ModelFolder(
                folder_path, layout_of(folder_path, package), package
            )
    ordered = [folders[path] for path in sorted(folders)]
    return Workspace(workspace.packages, ordered, workspace.skipped, workspace.shared)


def is_shared(parts: tuple[str, ...]) -> bool:
    """Package code model folders can import: utils/, and the folders under models/ that are not
    models (``_shared``, ``templates`` and any other ``_``-folder). Wider than the shared code
    the rules check (``workspace.SHARED_CODE_DIRS``): any of it can change what a model
    inherits."""
    return parts[:1] == ("utils",) or (
        parts[:1] == ("models",)
        and len(parts) > 2
        and (parts[1].startswith("_") or parts[1] == "templates")
    )


def why_nothing_to_check(
    workspace: Workspace, paths: Sequence[Path], changed_since: str | None
) -> str:
    """Why a run has no model folder to check. Not an error (exit 0, as ruff does for paths
    without Python files): pre-commit passes shared files nothing depends on, and a pull request
    may change no model. A package without any model folder is an error: a wrong path."""
    if changed_since:
        return f"none changed since {changed_since}, and none depends on a change"
    if not workspace.skipped:
        if not any(package.model_folders() for package in workspace.packages):
            raise WorkspaceError("no model folders found under " + ", ".join(map(str, paths)))
        return "every model folder there is excluded ([tool.qaihm-lint] exclude)"
    reasons = []
    for path in workspace.skipped:
        shown = "the current directory" if str(path) == "." else str(path)
        if path.is_dir():
            reasons.append(f"{shown} holds no model folder")
        elif path.suffix == ".py":
            reasons.append(f"{shown} is not in a model folder, and no model folder depends on it")
        else:
            reasons.append(f"{shown} is not in a model folder")
    return "; ".join(reasons)
