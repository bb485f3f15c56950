"""SourceAsRoot: pinned commits, no import-time clones, patches present, last resort only,
and no stray ``sys.path`` edits (QAI401-QAI406).

Calls are recognised by what the callee resolves to through the index: ``SourceAsRoot`` under
any import name, ``functools.partial(SourceAsRoot, ...)`` aliases (their preset arguments come
first), and ``*_as_root()`` wrapper functions. Argument values are followed through module
constants, function-local assignments and imports from other modules. The manifest layout
replaces SourceAsRoot with ``external_repos`` in manifest.yaml; QAI401, QAI403, QAI404 and
QAI405 read those entries there.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location, Severity
from qaihm_lint.index import FolderView, Symbol, dotted
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout

FULL_SHA = re.compile(r"[0-9a-f]{40}")
_PARAMS = (
    "source_repo_url",
    "source_repo_commit_hash",
    "source_repo_name",
    "source_repo_version",
    "source_repo_patches",
    "keep_sys_modules",
)
_SYS_PATH_METHODS = frozenset({"insert", "append", "extend", "remove", "pop", "clear"})
_MAX_DEPTH = 12


@dataclass
class Argument:
    """An argument expression and the module (file) its names are evaluated in."""

    node: ast.expr
    module: str
    path: str
    scopes: tuple[ast.AST, ...] = ()  # enclosing functions, innermost last (call site only)


@dataclass
class SourceAsRootUse:
    source: SourceFile
    node: ast.Call
    kind: str  # "call", "alias" (a partial), "wrapper" (an *_as_root() function)
    callee: str
    at_import: bool
    arguments: dict[str, Argument] = field(default_factory=dict)


@dataclass
class SysPathEdit:
    source: SourceFile
    node: ast.AST
    guarded: bool


@dataclass
class Scan:
    uses: list[SourceAsRootUse] = field(default_factory=list)
    sys_path: list[SysPathEdit] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Scanning the folder


def _callee_kind(view: FolderView, module: str, node: ast.Call) -> tuple[str, Symbol | None] | None:
    name = dotted(node.func)
    if not name:
        return None
    last = name.rsplit(".", 1)[-1]
    symbol = view.resolve(module, name)
    if symbol.kind in ("class", "function") and symbol.name == "SourceAsRoot":
        return "call", symbol
    if symbol.kind == "value" and isinstance(symbol.value, ast.Call):
        partial = symbol.value
        if dotted(partial.func).rsplit(".", 1)[-1] == "partial" and partial.args:
            inner = view.resolve(symbol.module, dotted(partial.args[0]))
            if (inner.kind in ("class", "function") and inner.name == "SourceAsRoot") or dotted(
                partial.args[0]
            ).rsplit(".", 1)[-1] == "SourceAsRoot":
                return "alias", symbol
    if symbol.kind in ("unknown", "external") and last == "SourceAsRoot":
        return "call", None
    if symbol.kind == "function" and last.endswith("_as_root"):
        return "wrapper", symbol
    if symbol.kind == "unknown" and last.endswith(("_as_root", "AsRoot")):
        return "wrapper", None
    return None


def _bind_arguments(
    view: FolderView,
    use_module: str,
    source: SourceFile,
    node: ast.Call,
    kind: str,
    symbol: Symbol | None,
    scopes: tuple[ast.AST, ...],
) -> dict[str, Argument]:
    positional: list[Argument] = []
    keywords: dict[str, Argument] = {}
    if kind == "alias" and symbol is not None and isinstance(symbol.value, ast.Call):
        info = view.module(symbol.module)
        path = info.path if info is not None else ""
        partial = symbol.value
        positional.extend(Argument(a, symbol.module, path) for a in partial.args[1:])
        for keyword in partial.keywords:
            if keyword.arg:
                keywords[keyword.arg] = Argument(keyword.value, symbol.module, path)
    if kind == "wrapper":
        return {}
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            return {}
        positional.append(Argument(arg, use_module, str(source.path), scopes))
    for keyword in node.keywords:
        if keyword.arg is None:
            return {}
        keywords[keyword.arg] = Argument(keyword.value, use_module, str(source.path), scopes)
    bound = dict(zip(_PARAMS, positional, strict=False))
    bound.update(keywords)
    return bound


def _is_sys_path(node: ast.AST) -> bool:
    return dotted(node) == "sys.path" or (
        isinstance(node, ast.Subscript) and dotted(node.value) == "sys.path"
    )


class _Scanner:
    def __init__(self, view: FolderView, source: SourceFile, scan: Scan) -> None:
        self.view = view
        self.source = source
        self.scan = scan
        self.module = view.module_of_file(source.path.name)
        self.functions: list[ast.AST] = []
        self.guards = 0  # depth of enclosing SourceAsRoot-like `with` blocks

    def walk(self, tree: ast.Module) -> None:
        # Iterative, with explicit enter/leave, so deep code cannot overflow the stack.
        stack: list[tuple[ast.AST, int]] = [(tree, 0)]
        while stack:
            node, state = stack.pop()
            if state == 1:
                self.leave(node)
                continue
            self.enter(node)
            stack.append((node, 1))
            stack.extend((child, 0) for child in reversed(list(ast.iter_child_nodes(node))))

    def _guarding(self, node: ast.AST) -> bool:
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and _callee_kind(self.view, self.module, expr):
                    return True
        return False

    def enter(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.functions.append(node)
        if self._guarding(node):
            self.guards += 1
        if isinstance(node, ast.Call):
            found = _callee_kind(self.view, self.module, node)
            if found is not None:
                kind, symbol = found
                self.scan.uses.append(
                    SourceAsRootUse(
                        self.source,
                        node,
                        kind,
                        dotted(node.func),
                        at_import=not self.functions,
                        arguments=_bind_arguments(
                            self.view,
                            self.module,
                            self.source,
                            node,
                            kind,
                            symbol,
                            tuple(self.functions),
                        ),
                    )
                )
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _SYS_PATH_METHODS
                and dotted(func.value) == "sys.path"
            ):
                self.scan.sys_path.append(SysPathEdit(self.source, node, self.guards > 0))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_sys_path(t) for t in targets):
                self.scan.sys_path.append(SysPathEdit(self.source, node, self.guards > 0))

    def leave(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.functions.pop()
        if self._guarding(node):
            self.guards -= 1


def scan_folder(rule: FolderRule) -> Scan:
    from qaihm_lint.rules._analysis import analyse

    memo = rule.ctx.memo
    cached = memo.get("source-as-root-scan")
    if isinstance(cached, Scan):
        return cached
    scan = Scan()
    view = analyse(rule.ctx).view
    for source in rule.folder.python_files():
        try:
            tree = source.tree
        except SourceError:
            continue
        text = source.text
        if "AsRoot" not in text and "as_root" not in text and "sys.path" not in text:
            continue
        _Scanner(view, source, scan).walk(tree)
    memo["source-as-root-scan"] = scan
    return scan


# ---------------------------------------------------------------------------------------------
# Evaluating argument values statically


class Unknown(Exception):
    pass


def _local_value(scopes: tuple[ast.AST, ...], name: str, before: int) -> ast.expr | None:
    """The last assignment of ``name`` in the enclosing functions before line ``before``."""
    for scope in reversed(scopes):
        found: ast.expr | None = None
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and node.lineno < before:
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    found = node.value
            elif (
                isinstance(node, ast.AnnAssign)
                and node.value is not None
                and node.lineno < before
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                found = node.value
        if found is not None:
            return found
    return None


def evaluate(view: FolderView, argument: Argument, depth: int = 0) -> object:
    """The constant value of an argument (str, int, list of those, or a path), or Unknown."""
    if depth > _MAX_DEPTH:
        raise Unknown
    node = argument.node

    def again(
        expr: ast.expr,
        module: str | None = None,
        path: str | None = None,
        scopes: tuple[ast.AST, ...] | None = None,
    ) -> object:
        return evaluate(
            view,
            Argument(
                expr,
                module or argument.module,
                path or argument.path,
                argument.scopes if scopes is None else scopes,
            ),
            depth + 1,
        )

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [again(e) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return argument.path
        local = _local_value(argument.scopes, node.id, node.lineno)
        if local is not None:
            return again(local)
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            return os.path.dirname(str(again(node.value)))
        symbol = view.resolve(argument.module, name)
        if symbol.kind == "value" and symbol.value is not None:
            info = view.module(symbol.module)
            if info is None:
                raise Unknown
            return again(symbol.value, symbol.module, info.path, ())
        raise Unknown
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return os.path.join(str(again(node.left)), str(again(node.right)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = again(node.left), again(node.right)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        raise Unknown
    if isinstance(node, ast.Call):
        callee = dotted(node.func).rsplit(".", 1)[-1]
        args = [again(a) for a in node.args]
        if callee == "join" and args and all(isinstance(a, str) for a in args):
            return os.path.join(*[str(a) for a in args])
        if callee == "dirname" and len(args) == 1:
            return os.path.dirname(str(args[0]))
        if (
            callee in ("Path", "str", "abspath", "realpath", "normpath", "fspath", "resolve")
            and len(args) == 1
        ):
            return args[0]
        if callee == "resolve" and not args and isinstance(node.func, ast.Attribute):
            return again(node.func.value)
        raise Unknown
    raise Unknown


def _value(view: FolderView, use: SourceAsRootUse, name: str) -> object:
    argument = use.arguments.get(name)
    if argument is None:
        raise Unknown
    return evaluate(view, argument)


def _report_node(use: SourceAsRootUse, name: str) -> ast.AST:
    """Report at the argument when it is written at the call, else at the call."""
    argument = use.arguments.get(name)
    if (
        argument is not None
        and argument.path == str(use.source.path)
        and any(argument.node is a for a in [*use.node.args, *(k.value for k in use.node.keywords)])
    ):
        return argument.node
    return use.node


# ---------------------------------------------------------------------------------------------
# Manifest external_repos


@dataclass
class ExternalRepo:
    name: str
    data: dict[str, object]
    line: int  # of the repo's key


def external_repos(rule: FolderRule) -> tuple[SourceFile, list[ExternalRepo]] | None:
    source = rule.folder.file(Layout.MANIFEST.value)
    if source is None:
        return None
    try:
        document = yamlfile.load(source)
    except SourceError:
        return None
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("external_repos"), dict):
        return None
    start = document.location_of("external_repos").row
    repos = []
    for name, entry in data["external_repos"].items():
        if not isinstance(entry, dict):
            continue
        line = _find_line(source, start, rf"^\s+{re.escape(str(name))}\s*:")
        repos.append(ExternalRepo(str(name), entry, line or start))
    return source, repos


def _find_line(source: SourceFile, start: int, pattern: str) -> int | None:
    compiled = re.compile(pattern)
    for row in range(start, len(source.lines) + 1):
        if compiled.match(source.line(row)):
            return row
    return None


def _line_span(source: SourceFile, row: int, key: str) -> tuple[Location, Location]:
    line = source.line(row)
    column = line.find(key)
    column = column + 1 if column >= 0 else 1
    return Location(row, column), Location(row, len(line) + 1)


_MANIFEST = """\
name: Example
id: example
status: public
headline: An example model.
domain: Computer Vision
description: An example model for tests.
use_case: Image Classification
has_static_banner: true
license_type: mit
supported_precisions:
- float
external_repos:
  yolov7:
    repo_url: https://github.com/WongKinYiu/yolov7
    commit_sha: {sha}
    patches_filename: {patch}
"""

_SAR_MODEL = """\
from qai_hub_models.utils.asset_loaders import SourceAsRoot

SOURCE_REPO = "https://github.com/example/upstream"
COMMIT = "{sha}"


def load():
    with SourceAsRoot(SOURCE_REPO, COMMIT, "upstream", 1{extra}) as repo:
        import upstream
    return upstream
"""

_FULL = "4c50fd3a46bdf63dbf2082c5cbb3458d39579e6c"


class _SourceAsRootRule(FolderRule):
    needs_index: ClassVar[bool] = True

    def view(self) -> FolderView:
        from qaihm_lint.rules._analysis import analyse

        return analyse(self.ctx).view

    def report_use(self, use: SourceAsRootUse, node: ast.AST, message: str) -> None:
        self.report_node(use.source, node, message)

    def argument_values(self, name: str) -> Iterator[tuple[SourceAsRootUse, object]]:
        """(call, value of its argument ``name``) for each direct SourceAsRoot call of the
        folder whose value is known statically (wrappers and unknown values are skipped)."""
        view = self.view()
        for use in scan_folder(self).uses:
            if use.kind == "wrapper":
                continue
            try:
                yield use, _value(view, use, name)
            except Unknown:
                continue


class SourceAsRootUnpinnedCommit(_SourceAsRootRule):
    summary = (
        "source_repo_commit_hash (or a manifest `external_repos` commit_sha) is not a "
        "full 40-hex SHA."
    )
    why = (
        "A branch, tag or short hash can move or become ambiguous, so the cloned code (and the "
        "patches applied to it) silently changes under the model."
    )
    valid = (
        Valid(_SAR_MODEL.format(sha=_FULL, extra="")),
        Valid(
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot as SAR\n\n\n"
            "def load(commit=None):\n"
            f"    sha = '{_FULL}'\n"
            "    with SAR('https://github.com/a/b', sha, 'b', 1):\n        pass\n",
            note="Imported under another name; a function-local constant.",
        ),
        Valid(
            files={
                "manifest.yaml": _MANIFEST.format(sha=_FULL, patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
    )
    invalid = (
        Invalid(_SAR_MODEL.format(sha="84932d7", extra="")),
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
                "manifest.yaml": _MANIFEST.format(sha="84932d7", patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
    )

    def check(self) -> None:
        view = self.view()
        for use, value in self.argument_values("source_repo_commit_hash"):
            if isinstance(value, str) and FULL_SHA.fullmatch(value):
                continue
            try:
                url = f" of {_value(view, use, 'source_repo_url')}"
            except Unknown:
                url = ""
            self.report_use(
                use,
                _report_node(use, "source_repo_commit_hash"),
                f"SourceAsRoot commit {value!r}{url} is not a full 40-character "
                "commit SHA: pin the full hash (`git rev-parse <ref>`)",
            )
        found = external_repos(self)
        if found is None:
            return
        source, repos = found
        for repo in repos:
            sha = repo.data.get("commit_sha")
            if isinstance(sha, str) and FULL_SHA.fullmatch(sha):
                continue
            row = _find_line(source, repo.line, r"^\s+commit_sha\s*:") or repo.line
            start, end = _line_span(source, row, "commit_sha" if sha is not None else repo.name)
            what = f"commit_sha {sha!r}" if sha is not None else "no commit_sha"
            self.report(
                source,
                f"external repo {repo.name!r} has {what}, not a full "
                "40-character commit SHA: pin the full hash",
                start=start,
                end=end,
            )


class SourceAsRootAtImport(_SourceAsRootRule):
    summary = "SourceAsRoot entered at module import time."
    why = (
        "Importing the model package (which codegen, tests and `qai_hub_models` tooling do "
        "for every model) would clone a repository and mutate sys.path; clone lazily inside "
        "from_pretrained or the function that needs it. Off by default: the six import-time "
        "uses of the 0.46.1 release stayed there for every release after they were written, "
        "and the newer layout's `external_repos/__init__.py` clones at import by design, so "
        "upstream accepts the shape; enable it where lazy cloning is your project's policy."
    )
    valid = (Valid(_SAR_MODEL.format(sha=_FULL, extra="")),)
    invalid = (
        Invalid(
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n"
            f"with SourceAsRoot('https://github.com/a/b', '{_FULL}', 'b', 1):\n"
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
                f"'{_FULL}', 'c', 1)\n",
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


class SourceAsRootPipInstallable(_SourceAsRootRule):
    summary = (
        "The repo is installable with pip (same package in requirements, git+https, or "
        "a configured known-pip list)."
    )
    why = (
        "The guide prefers `pip install` (from PyPI or `git+https://...@<sha>`) over cloning "
        "with SourceAsRoot. A name on PyPI alone proves nothing (many are squatted), so only "
        "the folder's requirements or the configured `known-pip-installable` list count."
    )
    valid = (Valid(_SAR_MODEL.format(sha=_FULL, extra="")),)
    invalid = (
        Invalid(
            _SAR_MODEL.format(sha=_FULL, extra=""), files={"requirements.txt": "upstream==1.2.0\n"}
        ),
        Invalid(
            _SAR_MODEL.format(sha=_FULL, extra=""),
            files={"requirements.txt": f"git+https://github.com/example/upstream.git@{_FULL}\n"},
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
        found = external_repos(self)
        if found is None:
            return
        source, repos = found
        for repo in repos:
            url = repo.data.get("repo_url")
            if not isinstance(url, str):
                continue
            reason = self._reason(url, requirements, known)
            if reason:
                start, end = _line_span(source, repo.line, repo.name)
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


class SourceAsRootMissingPatch(_SourceAsRootRule):
    summary = "source_repo_patches (or `patches_filename`) names a file that does not exist."
    why = "SourceAsRoot applies each patch after cloning; a missing one fails at run time."
    valid = (
        Valid(
            _SAR_MODEL.format(
                sha=_FULL,
                extra=", source_repo_patches=[os.path.join("
                "os.path.dirname(__file__), 'patches', 'fix.diff')]",
            ),
            files={"patches/fix.diff": "--- a\n+++ b\n"},
        ),
        Valid(
            files={
                "manifest.yaml": _MANIFEST.format(sha=_FULL, patch="p.diff"),
                "external_repos/p.diff": "",
            },
            path="manifest.yaml",
            layout=Layout.MANIFEST,
        ),
    )
    invalid = (
        Invalid(
            _SAR_MODEL.format(
                sha=_FULL,
                extra=", source_repo_patches=[os.path.join("
                "os.path.dirname(__file__), 'patches', 'fix.diff')]",
            )
        ),
        Invalid(
            files={"manifest.yaml": _MANIFEST.format(sha=_FULL, patch="p.diff")},
            path="manifest.yaml",
            layout=Layout.MANIFEST,
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
                    self.ctx.depend_on(Path(item))  # a patch named by a _shared constant
                if not os.path.exists(item):
                    self.report_use(
                        use,
                        _report_node(use, "source_repo_patches"),
                        f"SourceAsRoot patch {_shown(view, item)} does not exist: "
                        "add the patch file or fix the path",
                    )
        found = external_repos(self)
        if found is None:
            return
        source, repos = found
        for repo in repos:
            name = repo.data.get("patches_filename")
            if not isinstance(name, str) or not name:
                continue
            candidates = [self.folder.path / "external_repos" / name, self.folder.path / name]
            if any(c.exists() for c in candidates):
                continue
            row = _find_line(source, repo.line, r"^\s+patches_filename\s*:") or repo.line
            start, end = _line_span(source, row, "patches_filename")
            self.report(
                source,
                f"external repo {repo.name!r} names patch {name!r}, but "
                f"external_repos/{name} does not exist: add it or fix the name",
                start=start,
                end=end,
            )


def _shown(view: FolderView, path: str) -> str:
    from qaihm_lint.rules._analysis import display_path

    return display_path(view, path)


class SourceAsRootUsed(_SourceAsRootRule):
    summary = "Any use of SourceAsRoot: last resort, justify with `# noqa` and a reason."
    why = (
        "The guide ranks monkeypatching and pip (PyPI or git+https) above cloning upstream "
        "source; each remaining use should say why the others do not work."
    )
    severity = Severity.WARNING
    valid = (Valid(),)
    invalid = (Invalid(_SAR_MODEL.format(sha=_FULL, extra="")),)

    def check(self) -> None:
        for use in scan_folder(self).uses:
            self.report_use(
                use,
                use.node,
                f"{use.callee}(...) clones upstream source: prefer "
                "monkeypatching or a pip install; if neither works, say why in a "
                "`# noqa: QAI405` comment",
            )


class SysPathManipulation(_SourceAsRootRule):
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
            f"    with SourceAsRoot('https://github.com/a/b', '{_FULL}', 'b', 1) as repo:\n"
            "        sys.path.insert(0, os.path.join(repo, 'src'))\n"
        ),
    )
    invalid = (
        Invalid("import sys\n\n\ndef load():\n    sys.path.insert(0, '/opt/upstream')\n"),
        Invalid(
            "import sys\n\n"
            "from qai_hub_models.utils.asset_loaders import SourceAsRoot\n\n\n"
            "def load():\n"
            f"    with SourceAsRoot('https://github.com/a/b', '{_FULL}', 'b', 1):\n"
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


def iter_uses(scan: Scan) -> Iterator[SourceAsRootUse]:
    yield from scan.uses


__all__ = [
    "Path",
    "SourceAsRootAtImport",
    "SourceAsRootMissingPatch",
    "SourceAsRootPipInstallable",
    "SourceAsRootUnpinnedCommit",
    "SourceAsRootUsed",
    "SysPathManipulation",
]
