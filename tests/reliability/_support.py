"""Shared pieces of the reliability suite: budgets, tree snapshots, finding invariants, and the
mutations that turn clean, real-shaped files into the unfinished work a linter meets.

``QAIHM_FUZZ_SCALE`` (an integer, default 1) multiplies every hypothesis budget; ``bench/fuzz.py``
sets it for long campaigns. CI keeps the default.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from hypothesis import HealthCheck, settings

from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.sources import SourceError, SourceFile

SCALE = max(1, int(os.environ.get("QAIHM_FUZZ_SCALE", "1") or "1"))
# Generous: the first example of a run also pays for imports and libcst's parser tables.
DEADLINE_MS = 2000 * (3 if os.environ.get("CI") else 1)


def budget(examples: int, *, deadline_ms: int | None = DEADLINE_MS) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=deadline_ms,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        derandomize=SCALE == 1 and bool(os.environ.get("CI")),
    )


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (relative path -> bytes, or 'symlink:<target>' / 'dir')."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[relative] = f"symlink:{os.readlink(path)}"
            elif path.is_dir():
                out[relative] = "dir"
            else:
                try:
                    out[relative] = path.read_bytes()
                except OSError as exc:
                    out[relative] = f"unreadable:{exc.errno}"
    return out


def changed_entries(before: Mapping[str, object], after: Mapping[str, object]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def check_findings(diagnostics: Iterable[Diagnostic], *, allow_internal: bool = False) -> None:
    """Invariants of every finding: 1-based positions inside the file, no rule crashes."""
    for diagnostic in diagnostics:
        where = (
            f"{diagnostic.path}:{diagnostic.start.row}:{diagnostic.start.column} "
            f"{diagnostic.code} {diagnostic.message}"
        )
        assert diagnostic.start.row >= 1 and diagnostic.start.column >= 1, where
        assert diagnostic.end.row >= 1 and diagnostic.end.column >= 1, where
        assert (diagnostic.end.row, diagnostic.end.column) >= (
            diagnostic.start.row,
            diagnostic.start.column,
        ), where
        if not allow_internal:
            assert diagnostic.code != "QAI002", where
        if not diagnostic.path.is_file():
            continue
        source = SourceFile(diagnostic.path)
        try:
            lines = source.lines
        except SourceError:
            continue
        for location in (diagnostic.start, diagnostic.end):
            # The end may sit just past the last line (a span that covers the final newline).
            assert location.row <= len(lines) + 1, f"row past the end of the file: {where}"
            if location.row <= len(lines):
                limit = len(lines[location.row - 1]) + 1
                assert location.column <= limit, f"column past the end of the line: {where}"


# ---------------------------------------------------------------------------------------------
# Mutations: what an editor buffer looks like half-way through a change.

SNIPPETS = (
    "@classmethod\n",
    "@staticmethod\n",
    "@pytest.mark.trace\n",
    "  # noqa: QAI201\n",
    "  # noqa\n",
    "# qaihm-lint: noqa: QAI405\n",
    "torch.load(path)\n",
    'x.cuda()\ntorch.device("cuda")\n',
    "with SourceAsRoot(url, 'abc', 'repo', 1):\n    pass\n",
    "import sys\nsys.path.append('/x')\n",
    "def from_pretrained(self, a, b=1): ...\n",
    "class Broken(BaseModel):\n",
    "    def get_input_spec(self):\n        return {}\n",
    "def get_hub_litemp_percentage(self): return 250\n",
    "lambda: (yield)\n",
    "async def f():\n    await x\n",
    "match x:\n    case [a, *_]: pass\n",
    'f"{x!r:>{width}}"\n',
    "\t",
    "\r\n",
    "\r",
    "\x0c",
    "\x00",
    "\ufeff",
    "é",
    "\U0001f600",
    "\\\n",
    '"""',
    "'",
    "(",
    ")",
    "[" * 40,
    ":",
    "    ",
    "id: other\n",
    "&a [*a]\n",
    "- - -\n",
    "{",
    "numpy>=1\n",
    "git+https://github.com/x/y@main#egg=y\n",
    "-r requirements.txt\n",
)


def mutate(text: str, rng: random.Random, rounds: int) -> str:
    """Apply ``rounds`` random edits (truncate, delete, duplicate, insert, swap, re-indent)."""
    for _ in range(rounds):
        length = len(text)
        a = rng.randint(0, length)
        b = rng.randint(a, min(length, a + rng.choice((1, 5, 40, 400))))
        kind = rng.randrange(8)
        if kind == 0:
            text = text[:a]
        elif kind == 1:
            text = text[:a] + text[b:]
        elif kind == 2:
            text = text[:b] + text[a:b] + text[b:]
        elif kind in (3, 4):
            text = text[:a] + rng.choice(SNIPPETS) + text[a:]
        elif kind == 5:
            lines = text.split("\n")
            if len(lines) > 2:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif kind == 6:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines[i] = rng.choice(("", " ", "\t", "        ")) + lines[i].lstrip()
            text = "\n".join(lines)
        else:
            text = text.replace("\n", rng.choice(("\r\n", "\n", "\r")))
    return text


def encode(text: str, rng: random.Random) -> bytes:
    """Mostly UTF-8; sometimes with a BOM, in Latin-1 or with a stray invalid byte."""
    choice = rng.randrange(10)
    if choice == 0:
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if choice == 1:
        return text.encode("latin-1", "replace")
    data = text.encode("utf-8", "surrogatepass")
    if choice == 2 and data:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.choice((0x80, 0xC3, 0xFF, 0xE9, 0x00))]) + data[at:]
    return data
