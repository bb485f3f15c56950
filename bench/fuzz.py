"""The long, opt-in fuzz campaign (CI runs the same properties with small budgets).

Two parts:

1. ``properties``: the hypothesis suites of ``tests/reliability`` with every budget multiplied
   by ``--scale`` (``QAIHM_FUZZ_SCALE``).
2. ``corpus``: real model folders of the published wheels (``bench/corpus.py``), copied to a
   scratch tree; each round mutates a few of a folder's files (truncation, deletion, duplication,
   inserted snippets, swapped lines, re-indentation, other encodings) and runs the whole engine
   (``check_folder``), then ``--fix --unsafe-fixes`` every few rounds. A crash is an exception
   escaping the engine, a QAI002 finding, a position outside its file, a fix that breaks parsing,
   or a round slower than ``--slow`` seconds; each is saved under ``bench/.cache/fuzz-crashes/``
   with the folder's files so it can be replayed.

    python bench/fuzz.py [--seconds 600] [--scale 20] [--seed 1] [--parts properties,corpus]

Exit status 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from corpus import VERSIONS, package_root  # noqa: E402

from qaihm_lint.cli import main as cli_main  # noqa: E402
from qaihm_lint.config import Settings  # noqa: E402
from qaihm_lint.engine import check_folder, make_plan  # noqa: E402
from qaihm_lint.workspace import discover  # noqa: E402
from tests.reliability._support import check_findings, encode, mutate  # noqa: E402

CRASHES = HERE / ".cache" / "fuzz-crashes"
TEXT_SUFFIXES = (".py", ".yaml", ".yml", ".txt")


def run_properties(scale: int) -> int:
    env = {**os.environ, "QAIHM_FUZZ_SCALE": str(scale)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/reliability/test_properties.py",
        "tests/reliability/test_engine_fuzz.py",
    ]
    print(f"properties: {' '.join(command[3:])} (scale {scale})", flush=True)
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def _save(kind: str, folder: Path, detail: str) -> Path:
    target = CRASHES / f"{time.strftime('%Y%m%d-%H%M%S')}-{folder.name}-{kind}"
    shutil.copytree(folder, target / folder.name, symlinks=True, dirs_exist_ok=True)
    (target / "detail.txt").write_text(detail)
    return target


def _engine_round(folder: Path) -> None:
    workspace = discover([folder])
    plan = make_plan(Settings(select=("ALL",), jobs=1, use_cache=False))
    for model in workspace.folders:
        result = check_folder(model, plan)
        check_findings(getattr(result, "diagnostics", result))  # type: ignore[arg-type]


def _fix_round(folder: Path) -> None:
    before = {p: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.suffix == ".py"}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(
            [str(folder), "--fix", "--unsafe-fixes", "--no-cache", "--jobs", "1", "--select", "ALL"]
        )
    if code not in (0, 1) or "internal error" in err.getvalue():
        raise AssertionError(f"--fix exited {code}: {err.getvalue()[-2000:]}")
    if "QAI002" in out.getvalue():
        raise AssertionError(f"QAI002 during --fix: {out.getvalue()[-2000:]}")
    for path, old in before.items():
        new = path.read_bytes() if path.is_file() else old
        if new == old:
            continue
        try:
            ast.parse(old)
        except (SyntaxError, ValueError):
            continue
        ast.parse(new)  # parsed before the fix: must parse after it


def run_corpus(seconds: float, seed: int, slow: float, versions: list[str]) -> dict[str, int]:
    rng = random.Random(seed)
    stats = {"rounds": 0, "files_mutated": 0, "fix_rounds": 0, "crashes": 0, "slow": 0}
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="qaihm-fuzz-") as scratch:
        packages = []
        for version in versions:
            source = package_root(version)
            package = Path(scratch) / version / "qai_hub_models"
            shutil.copytree(source, package, symlinks=True)
            folders = sorted(
                p
                for p in (package / "models").iterdir()
                if p.is_dir() and not p.name.startswith(("_", "."))
            )
            packages.append((source, folders))
        while time.monotonic() < deadline:
            source, folders = rng.choice(packages)
            folder = rng.choice(folders)
            pristine = source / "models" / folder.name
            names = [p.name for p in folder.iterdir() if p.is_file() and p.suffix in TEXT_SUFFIXES]
            if not names:
                continue
            for name in rng.sample(names, k=min(len(names), rng.randint(1, 3))):
                path = folder / name
                text = path.read_bytes().decode("utf-8", "replace")
                path.write_bytes(encode(mutate(text, rng, rng.randint(1, 8)), rng))
                stats["files_mutated"] += 1
            stats["rounds"] += 1
            started = time.monotonic()
            try:
                _engine_round(folder)
                if stats["rounds"] % 5 == 0:
                    stats["fix_rounds"] += 1
                    _fix_round(folder)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                stats["crashes"] += 1
                where = _save("crash", folder, traceback.format_exc())
                print(f"CRASH {folder.name}: {type(exc).__name__}: {exc} -> {where}", flush=True)
            elapsed = time.monotonic() - started
            if elapsed > slow:
                stats["slow"] += 1
                where = _save("slow", folder, f"{elapsed:.1f} s")
                print(f"SLOW {folder.name}: {elapsed:.1f} s -> {where}", flush=True)
            shutil.rmtree(folder)
            shutil.copytree(pristine, folder, symlinks=True)
            if stats["rounds"] % 200 == 0:
                print(f"corpus: {json.dumps(stats)}", flush=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="corpus campaign length")
    parser.add_argument("--scale", type=int, default=20, help="hypothesis budget multiplier")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=10.0, help="seconds that count as a hang")
    parser.add_argument("--parts", default="properties,corpus")
    parser.add_argument("--versions", nargs="*", default=list(VERSIONS))
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    failed = False
    if "properties" in parts:
        failed |= run_properties(args.scale) != 0
    if "corpus" in parts:
        stats = run_corpus(args.seconds, args.seed, args.slow, args.versions)
        print(f"corpus campaign: {json.dumps(stats)}")
        failed |= bool(stats["crashes"] or stats["slow"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
