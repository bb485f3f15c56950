"""The shape of the code base, as CONTRIBUTING.md states it: no import circle in qaihm_lint (a
module-level, TYPE_CHECKING or function-local import counts alike, and importing ``a.b.c`` runs
``a/__init__`` and ``a/b/__init__`` first), no module over 600 lines, and a run answered from the
cache imports no rule family (nor the index)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from qaihm_lint.testing import build_tree

PACKAGE = Path(__file__).resolve().parent.parent / "qaihm_lint"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            stem = ".".join([*base, *([node.module] if node.module else [])])
            written = [stem, *(f"{stem}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            written = [alias.name for alias in node.names]
        else:
            continue
        for target in written:
            parts = target.split(".")
            for size in range(2, len(parts) + 1):
                prefix = ".".join(parts[:size])
                # A package's own ancestors are already being imported when it is.
                ancestor = size < len(parts) and name.startswith(prefix + ".")
                if prefix in known and prefix != name and not ancestor:
                    targets.add(prefix)
    return targets


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_circle_check_sees_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_over_the_limit() -> None:
    sizes = {
        path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert not {p: n for p, n in sizes.items() if n > MAX_LINES}


def test_a_cached_run_imports_no_rule_family(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    probe = (
        "import sys\n"
        "from qaihm_lint.cli import main\n"
        "code = main([sys.argv[1], '--output-format', 'concise'])\n"
        "engine_side = {'qaihm_lint.rules.' + m for m in ('base', 'meta', '_examples')}\n"
        "families = sorted(m for m in sys.modules\n"
        "                  if m.startswith('qaihm_lint.rules.') and m not in engine_side\n"
        "                  or m == 'qaihm_lint.index')\n"
        "print(code, families)\n"
    )
    command = [sys.executable, "-c", probe, str(tree.model())]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    cold = first.stdout.splitlines()[-1]
    assert cold.startswith("0 [") and "'qaihm_lint.rules." in cold, first.stdout  # a cold run does
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert second.stdout.splitlines()[-1] == "0 []", second.stdout


def test_sandbox_side_imports_nothing_of_the_parent() -> None:
    # deep/inside/ runs under the model's interpreter, inside the sandbox: it may import its own
    # modules and nothing else of qaihm_lint (not even through a relative import).
    known = _modules()
    inside = "qaihm_lint.deep.inside"
    for name, path in known.items():
        if name == inside or name.startswith(inside + "."):
            outside = {
                target
                for target in _imports(name, path, known)
                if not (target == inside or target.startswith(inside + "."))
                and target not in ("qaihm_lint", "qaihm_lint.deep")
            }
            assert not outside, f"{name} imports {sorted(outside)} from the parent side"
            text = path.read_text(encoding="utf-8")
            assert "import qaihm_lint" not in text and "from qaihm_lint" not in text, name
