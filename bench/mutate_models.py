"""Mutate real model folders and show each mutation is caught (and fixed where fixable).

Works on a temporary copy of a published qai-hub-models package (downloaded by bench/corpus.py,
or given with --root); the corpus itself is never modified. For every applicable folder, one
mutation at a time:

* QAI202  delete the @classmethod above from_pretrained (fix: adds it back)
* QAI203  drop the first default of from_pretrained's parameters
* QAI204  turn a @staticmethod get_input_spec into an instance method taking `self`
          (info.yaml layout; fix: back to @staticmethod)
* QAI602  strip @pytest.mark.trace from test_trace (fix: adds it back)
* QAI501  insert a `.cuda()` call in from_pretrained (unsafe fix: `.cpu()`)
* QAI502  insert `torch.load(p)` in from_pretrained (fix: map_location="cpu")
* QAI401  shorten a SourceAsRoot commit hash / a manifest commit_sha to 7 characters
* QAI201  remove a method's definition from a `_shared` / `templates` base: every model that
          inherited it (and has no other concrete definition after it) must be flagged
* QAI105  delete app.py while __init__.py imports it
* QAI106  copy the folder under a new id (metadata id fixed, nothing else): the copy's entry
          points still take Model / MODEL_ID / the demo from the original
* QAI502  insert `torch.load(p)` in a function of shared code: reported once, at that file

A mutation is "caught" when the linter reports the expected code in the expected file and did
not before; "fixed" when `--fix` (with --unsafe-fixes for QAI501) leaves a file that parses and
no finding of that code. Prints a table of counts per mutation and exits 1 if any was missed.

Usage: python bench/mutate_models.py [--versions 0.46.1,0.65.0] [--root PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qaihm_lint.index import RepoIndex
from qaihm_lint.testing import fix_paths, lint_paths
from qaihm_lint.workspace import Layout, discover


@dataclass
class Mutation:
    code: str
    folder: Path  # the model folder expected to be flagged
    path: Path  # the file to mutate
    new_text: str
    expect_in: Path  # the file the finding must be in
    fixable: bool = False
    unsafe: bool = False
    delete: bool = False  # the mutation removes ``path``


def _copy(root: Path, target: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not name.endswith(
                (".py", ".txt", ".yaml", ".yml", ".diff", ".patch")
            ):
                skipped.add(name)
        return skipped

    destination = target / "qai_hub_models"
    shutil.copytree(root, destination, ignore=ignore)
    return destination


def _model_class(package: Path, folder: Path) -> ast.ClassDef | None:
    """The ClassDef of the exported Model, when it is defined in the folder's model.py."""
    workspace = discover([folder])
    index = RepoIndex.build(package)
    view = index.view(workspace.folders[0])
    cls = view.resolve_class(view.prefix, "Model")
    if cls is None or Path(cls.path) != folder / "model.py":
        return None
    tree = ast.parse((folder / "model.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.name:
            return node
    return None


def _kind(package: Path, folder: Path) -> str | None:
    """What the exported Model is (the rules check only PyTorch models and collections; one
    LLM of 0.46.1 reaches no framework base at all, and the rules stay silent on it)."""
    workspace = discover([folder])
    view = RepoIndex.build(package).view(workspace.folders[0])
    cls = view.resolve_class(view.prefix, "Model")
    return None if cls is None else view.mro(cls).kind


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _insert_first_statement(text: str, function: ast.FunctionDef, statement: str) -> str:
    first = function.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and len(function.body) > 1
    ):
        first = function.body[1]
    lines = _lines(text)
    indent = re.match(r"\s*", lines[first.lineno - 1]).group(0)  # type: ignore[union-attr]
    lines.insert(first.lineno - 1, f"{indent}{statement}\n")
    return "".join(lines)


def model_mutations(package: Path, folder: Path, layout: Layout) -> Iterator[Mutation]:
    model_py = folder / "model.py"
    if not model_py.is_file():
        return
    text = model_py.read_text()
    cls = _model_class(package, folder)
    if cls is not None and _kind(package, folder) in ("pytorch", "collection"):
        from_pretrained = _method(cls, "from_pretrained")
        if from_pretrained is not None:
            for decorator in from_pretrained.decorator_list:
                if isinstance(decorator, ast.Name) and decorator.id == "classmethod":
                    lines = _lines(text)
                    if lines[decorator.lineno - 1].strip() == "@classmethod":
                        del lines[decorator.lineno - 1]
                        yield Mutation(
                            "QAI202", folder, model_py, "".join(lines), model_py, fixable=True
                        )
            args = from_pretrained.args
            positional = [*args.posonlyargs, *args.args]
            if args.defaults:
                first_default = len(positional) - len(args.defaults)
                arg, default = positional[first_default], args.defaults[0]
                yield Mutation(
                    "QAI203", folder, model_py, _drop_default(text, arg, default), model_py
                )
            if from_pretrained.body:
                yield Mutation(
                    "QAI501",
                    folder,
                    model_py,
                    _insert_first_statement(
                        text, from_pretrained, "_gpu_probe = torch.zeros(1).cuda()"
                    ),
                    model_py,
                    fixable=True,
                    unsafe=True,
                )
                yield Mutation(
                    "QAI502",
                    folder,
                    model_py,
                    _insert_first_statement(
                        text, from_pretrained, "_weights = torch.load('weights.pt')"
                    ),
                    model_py,
                    fixable=True,
                )
        spec = _method(cls, "get_input_spec")
        if (
            layout is Layout.INFO
            and spec is not None
            and len(spec.decorator_list) == 1
            and isinstance(spec.decorator_list[0], ast.Name)
            and spec.decorator_list[0].id == "staticmethod"
        ):
            lines = _lines(text)
            decorator_line = spec.decorator_list[0].lineno - 1
            def_line = lines[spec.lineno - 1]
            if (
                "def get_input_spec(" in def_line
                and lines[decorator_line].strip() == "@staticmethod"
            ):
                params = (
                    "self"
                    if not (
                        spec.args.args
                        or spec.args.kwonlyargs
                        or spec.args.vararg
                        or spec.args.kwarg
                    )
                    else "self, "
                )
                if def_line.rstrip().endswith("def get_input_spec("):
                    params = params.rstrip()  # parameters on the next lines
                lines[spec.lineno - 1] = def_line.replace(
                    "def get_input_spec(", f"def get_input_spec({params}", 1
                )
                del lines[decorator_line]
                yield Mutation("QAI204", folder, model_py, "".join(lines), model_py, fixable=True)
    match = re.search(r"""(["'])([0-9a-f]{40})\1""", text)
    if match and "AsRoot" in text:
        short = text[: match.start(2)] + match.group(2)[:7] + text[match.end(2) :]
        yield Mutation("QAI401", folder, model_py, short, model_py)


def _drop_default(text: str, arg: ast.arg, default: ast.expr) -> str:
    lines = _lines(text)
    # From the end of the parameter (its annotation) to the end of its default.
    end_of_arg = arg.annotation if arg.annotation is not None else arg
    start_row, start_col = end_of_arg.end_lineno, end_of_arg.end_col_offset  # type: ignore[attr-defined]
    end_row, end_col = default.end_lineno, default.end_col_offset
    assert start_row is not None and end_row is not None and end_col is not None
    before = "".join(lines[: start_row - 1]) + lines[start_row - 1][:start_col]
    after = lines[end_row - 1][end_col:] + "".join(lines[end_row:])
    return before + after


def test_mutations(folder: Path) -> Iterator[Mutation]:
    test_py = folder / "test.py"
    if not test_py.is_file():
        return
    text = test_py.read_text()
    lines = _lines(text)
    for number, line in enumerate(lines):
        if line.strip() == "@pytest.mark.trace":
            rest = "".join(lines[number + 1 :])
            if re.match(r"(\s*@.*\n)*\s*def test_trace", rest):
                mutated = "".join(lines[:number] + lines[number + 1 :])
                yield Mutation("QAI602", folder, test_py, mutated, test_py, fixable=True)
                return


def import_mutations(folder: Path) -> Iterator[Mutation]:
    init = folder / "__init__.py"
    if (folder / "app.py").is_file() and init.is_file() and "from .app import" in init.read_text():
        yield Mutation("QAI105", folder, folder / "app.py", "", init, delete=True)


def shared_code_mutations(package: Path) -> Iterator[Mutation]:
    for top in ("_shared", "templates"):
        for path in sorted((package / "models" / top).glob("**/*.py")):
            text = path.read_text()
            if "import torch\n" not in text:
                continue
            tree = ast.parse(text)
            function = next(
                (
                    n
                    for n in tree.body
                    if isinstance(n, ast.FunctionDef) and n.body and n.name != "__getattr__"
                ),
                None,
            )
            if function is None:
                continue
            mutated = _insert_first_statement(text, function, "_weights = torch.load('w.pt')")
            yield Mutation("QAI502", path.parent, path, mutated, path, fixable=True)


def copy_mutation(folder: Path, layout: Layout) -> tuple[Path, list[str]] | None:
    """Copy ``folder`` as ``<id>_copy`` with the id fixed in its metadata; the files whose
    imports name the original model (the copy's findings are expected there)."""
    own = f"qai_hub_models.models.{folder.name}."
    expected = []
    for name in ("__init__.py", "test.py"):
        path = folder / name
        if path.is_file() and re.search(
            rf"from {re.escape(own)}\w+ import .*\b(MODEL_ID|Model|main)\b", path.read_text()
        ):
            expected.append(name)
    if not expected or not (folder / "model.py").is_file():
        return None
    copy = folder.with_name(f"{folder.name}_copy")
    shutil.copytree(folder, copy)
    metadata = copy / layout.value
    if metadata.is_file():
        metadata.write_text(
            re.sub(r"(?m)^id: .*$", f"id: {copy.name}", metadata.read_text(), count=1)
        )
    return copy, expected


def manifest_mutations(folder: Path) -> Iterator[Mutation]:
    manifest = folder / "manifest.yaml"
    if not manifest.is_file():
        return
    text = manifest.read_text()
    match = re.search(r"commit_sha: ([0-9a-f]{40})", text)
    if match:
        yield Mutation(
            "QAI401",
            folder,
            manifest,
            text[: match.start(1)] + match.group(1)[:7] + text[match.end(1) :],
            manifest,
        )


def shared_mutations(
    package: Path, folders: list[Path]
) -> Iterator[tuple[Path, str, str, list[Path]]]:
    """(shared file, method, mutated text, model folders expected to be flagged)."""
    index = RepoIndex.build(package)
    inherits: dict[tuple[str, str, int], list[Path]] = {}
    workspace = discover(folders)
    for folder in workspace.folders:
        view = index.view(folder)
        cls = view.resolve_class(view.prefix, "Model")
        if cls is None:
            continue
        mro = view.mro(cls)
        if mro.kind != "pytorch":
            continue
        required = (
            "from_pretrained",
            "get_input_spec",
            "get_output_spec" if folder.layout is Layout.MANIFEST else "get_output_names",
        )
        for name in required:
            found = mro.lookup(name)
            parts = Path(found[0].path).parts if found is not None else ()
            if found is None or not ({"_shared", "templates"} & set(parts)):
                continue
            # Expected flagged only if no other concrete definition follows in the MRO.
            later = [
                c
                for c in mro.classes[mro.classes.index(found[0]) + 1 :]
                if name in c.methods and c.methods[name].concrete
            ]
            if later:
                continue
            key = (found[0].path, name, found[1].lineno)
            inherits.setdefault(key, []).append(folder.path)
    for (path, name, lineno), dependants in sorted(inherits.items()):
        text = Path(path).read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == name and node.lineno == lineno:
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                end = node.end_lineno or node.lineno
                lines = _lines(text)
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
                # Keep the class body non-empty.
                mutated = "".join([*lines[: start - 1], f"{indent}pass\n", *lines[end:]])
                yield Path(path), name, mutated, dependants


def _findings(folder: Path, code: str) -> list[Path]:
    return [d.path for d in lint_paths([folder], select=[code]) if d.code == code]


def run(root: Path, limit: int | None) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    misses: list[str] = []
    with tempfile.TemporaryDirectory() as temporary:
        package = _copy(root, Path(temporary))
        workspace = discover([package / "models"])
        folders = workspace.folders[:limit] if limit else workspace.folders
        for folder in folders:
            mutations = [
                *model_mutations(package, folder.path, folder.layout),
                *test_mutations(folder.path),
                *manifest_mutations(folder.path),
                *import_mutations(folder.path),
            ]
            if folder is folders[0]:
                mutations.extend(shared_code_mutations(package))
            copied = copy_mutation(folder.path, folder.layout)
            if copied is not None:
                copy, expected = copied
                counts["QAI106 applied"] += 1
                flagged = {d.path.name for d in lint_paths([copy], select=["QAI106"])}
                if set(expected) <= flagged:
                    counts["QAI106 caught"] += 1
                else:
                    misses.append(f"QAI106 not caught in {copy.name}: {expected} vs {flagged}")
                shutil.rmtree(copy)
            for mutation in mutations:
                original = mutation.path.read_text()
                before = _findings(mutation.folder, mutation.code).count(mutation.expect_in)
                if mutation.delete:
                    mutation.path.unlink()
                else:
                    mutation.path.write_text(mutation.new_text)
                try:
                    counts[f"{mutation.code} applied"] += 1
                    after = _findings(mutation.folder, mutation.code).count(mutation.expect_in)
                    if after > before:
                        counts[f"{mutation.code} caught"] += 1
                    else:
                        misses.append(f"{mutation.code} not caught in {mutation.path}")
                        continue
                    if mutation.fixable:
                        fix_paths([mutation.folder], select=[mutation.code], unsafe=mutation.unsafe)
                        fixed_text = mutation.path.read_text()
                        ast.parse(fixed_text) if mutation.path.suffix == ".py" else None
                        remaining = _findings(mutation.folder, mutation.code).count(
                            mutation.expect_in
                        )
                        if remaining <= before:
                            counts[f"{mutation.code} fixed"] += 1
                            if fixed_text == original:
                                counts[f"{mutation.code} restored exactly"] += 1
                        else:
                            misses.append(f"{mutation.code} not fixed in {mutation.path}")
                finally:
                    mutation.path.write_text(original)
        for path, name, mutated, dependants in shared_mutations(package, [f.path for f in folders]):
            original = path.read_text()
            path.write_text(mutated)
            try:
                for folder_path in dependants:
                    counts["QAI201 applied"] += 1
                    flagged = [
                        d
                        for d in lint_paths([folder_path], select=["QAI201"])
                        if name in d.message or "get_output" in name
                    ]
                    if flagged:
                        counts["QAI201 caught"] += 1
                    else:
                        misses.append(
                            f"QAI201 not caught in {folder_path.name} after removing "
                            f"{name} from {path.name}"
                        )
            finally:
                path.write_text(original)
    return counts, misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default="0.46.1,0.65.0")
    parser.add_argument(
        "--root",
        type=Path,
        action="append",
        help="a qai_hub_models package to use instead of downloading",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N folders only")
    options = parser.parse_args()
    roots: list[Path] = options.root or []
    if not roots:
        from corpus import package_root

        roots = [package_root(v) for v in options.versions.split(",")]
    failed = False
    for root in roots:
        counts, misses = run(root.resolve(), options.limit)
        print(f"== {root}")
        codes = sorted({key.split()[0] for key in counts})
        print(f"{'code':8} {'applied':>8} {'caught':>8} {'fixed':>8} {'restored':>9}")
        for code in codes:
            print(
                f"{code:8} {counts[f'{code} applied']:>8} {counts[f'{code} caught']:>8} "
                f"{counts.get(f'{code} fixed', '-')!s:>8} "
                f"{counts.get(f'{code} restored exactly', '-')!s:>9}"
            )
        for miss in misses:
            print(f"  MISSED: {miss}")
        failed = failed or bool(misses)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
