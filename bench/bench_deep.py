"""What ``--deep`` costs per model, and what a fully cached run costs, measured in one run.

Everything runs on copies of the tests' fixture model ``good`` (a tiny convnet: the model's own
work is negligible, so what is measured is what deep mode adds per model), each measurement in
a fresh process, the variants interleaved, best of ``--repeat``. Wall time is what a user waits;
CPU time (user + system of the whole process tree: runner, servers, workers) is what the
machine pays, and is far less disturbed by other load on a shared machine:

1. one model, then N models (stages load, trace, onnx; no compile; no cache), for each variant:
   - ``fork server``: this tree, torch imported once per environment (the default);
   - ``fresh interpreter``: this tree with ``fork_server=False``, a new interpreter and
     ``import torch`` per model;
   - ``no sandbox``: the fork server with ``sandbox="off"`` (only the clean environment and the
     tree copy: no bubblewrap, no Landlock), for the sandbox's cost, printed as the ratio of the
     N-model runs (issue 19's budget: at most 1.3);
   - ``REV`` (``--before REV``): the code of that git revision, as it was;
   reported as the ratio N models / one model and the seconds each extra model adds;
2. a fully cached run of the N models (``qaihm-lint --deep --no-compile``, nothing changed
   since the run that filled the cache), of this tree and of ``REV``, against
   ``python -c "import torch"``.

Usage: python bench/bench_deep.py [--models 8] [--repeat 3] [--jobs 1] [--before REV]
                                  [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
FIXTURE = TREE / "tests" / "fixtures" / "deep_pkg"

# Runs one deep run in-process with the qaihm_lint found on PYTHONPATH; prints its wall time.
# Options the measured code does not know (an older revision) are left out.
_DRIVER = """
import dataclasses, json, sys, time
from pathlib import Path
from qaihm_lint.deep import DeepOptions, run_deep_detailed
from qaihm_lint.workspace import discover
settings = json.loads(sys.argv[1])
known = {field.name for field in dataclasses.fields(DeepOptions)}
settings = {key: value for key, value in settings.items() if key in known}
settings["stages"] = frozenset(settings["stages"])
folders = [f for f in discover([Path(sys.argv[2])]).folders if f.model_id in sys.argv[3:]]
assert len(folders) == len(sys.argv) - 3, "models not found"
start = time.perf_counter()
result = run_deep_detailed(folders, DeepOptions(**settings))
elapsed = time.perf_counter() - start
assert not result.diagnostics, [d.message for d in result.diagnostics]
print(json.dumps({"seconds": elapsed, "workers": result.workers_run}))
"""


def build_package(root: Path, count: int) -> list[str]:
    """The fixture package with ``count`` copies of its ``good`` model and no other model."""
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    models = root / "qai_hub_models" / "models"
    template = models / "good"
    for folder in list(models.iterdir()):
        if folder.is_dir() and not folder.name.startswith("_") and folder.name != "good":
            shutil.rmtree(folder)
    ids = []
    for number in range(count):
        model_id = f"copy_{number:03d}"
        shutil.copytree(template, models / model_id)
        info = models / model_id / "info.yaml"
        info.write_text(info.read_text().replace("id: good", f"id: {model_id}"))
        ids.append(model_id)
    shutil.rmtree(template)
    return ids


def code_of(revision: str, into: Path) -> Path:
    """The ``qaihm_lint`` package of ``revision``, unpacked under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(TREE), "archive", revision, "qaihm_lint"],
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``command`` and everything it started (each process waited for
    by its parent adds its own children's CPU time to its parent's), and its stdout."""
    cpu = _children_cpu()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed:\n{completed.stderr.decode()[-2000:]}")
    return elapsed, _children_cpu() - cpu, completed.stdout.decode()


def deep_run(
    code: Path, settings: dict[str, Any], package: Path, ids: list[str]
) -> tuple[float, float]:
    """Wall and CPU seconds of one deep run over ``ids`` with the qaihm_lint under ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-c", _DRIVER, json.dumps(settings), str(package), *ids]
    elapsed, cpu, out = measure(command, package.parent, env)
    result = json.loads(out.strip().splitlines()[-1])
    if result["workers"] != len(ids):
        raise SystemExit(f"expected {len(ids)} workers, ran {result['workers']}")
    return elapsed, cpu


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=8, help="N, the larger run (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--jobs", type=int, default=1, help="--jobs of every run (default 1)")
    parser.add_argument("--before", metavar="REV", help="also measure this git revision")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qaihm-bench-deep-"))
    try:
        package = work / "repo"
        ids = build_package(package, args.models)
        variants: list[tuple[str, Path, dict[str, Any]]] = [
            ("fork server", TREE, {"fork_server": True}),
            ("fresh interpreter", TREE, {"fork_server": False}),
            ("no sandbox", TREE, {"fork_server": True, "sandbox": "off"}),
        ]
        if args.before:
            variants.append((args.before, code_of(args.before, work / "before"), {}))
        base = {
            "stages": ["load", "trace", "onnx"],
            "compile": False,
            "use_cache": False,
            "progress": False,
            "jobs": args.jobs,
            "memory_limit_mb": 4096,
            "sandbox": "auto",
        }
        figures: dict[str, Any] = {"models": args.models, "jobs": args.jobs, "variants": {}}
        runs: dict[str, dict[int, list[tuple[float, float]]]] = {
            name: {1: [], args.models: []} for name, _, _ in variants
        }
        folders = [str(package / "qai_hub_models" / "models" / model_id) for model_id in ids]
        cli = [sys.executable, "-m", "qaihm_lint", "--deep", "--no-compile", *folders]
        floor = [sys.executable, "-c", "import torch"]
        # The cached run, for each distinct code (this tree; the older revision).
        codes = {"this tree": TREE, **{name: code for name, code, _ in variants[3:]}}
        envs = {name: {**os.environ, "PYTHONPATH": str(code)} for name, code in codes.items()}
        for env in envs.values():
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            measure(cli, work, env)  # fills the cache
        cached: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
        torch_floor: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            for name, code, extra in variants:
                settings = {**base, **extra}
                for count in (1, args.models):
                    runs[name][count].append(deep_run(code, settings, package, ids[:count]))
            for name, env in envs.items():
                cached[name].append(measure(cli, work, env)[:2])
            torch_floor.append(measure(floor, work, envs["this tree"])[:2])

        print(
            f"{args.models} copies of the fixture model 'good', --jobs {args.jobs}, best of "
            f"{args.repeat}; wall seconds, CPU seconds in brackets"
        )
        print(
            f"{'variant':<20} {'1 model':>15} {f'{args.models} models':>15} "
            f"{'ratio':>13} {'per extra model':>17}"
        )
        for name, _, _ in variants:
            (w1, c1), (wn, cn) = best(runs[name][1]), best(runs[name][args.models])
            extra_wall = (wn - w1) / max(1, args.models - 1)
            extra_cpu = (cn - c1) / max(1, args.models - 1)
            figures["variants"][name] = {
                "one_model": {"wall_s": w1, "cpu_s": c1},
                "n_models": {"wall_s": wn, "cpu_s": cn},
                "ratio": {"wall": wn / w1, "cpu": cn / c1},
                "per_extra_model": {"wall_s": extra_wall, "cpu_s": extra_cpu},
            }
            print(
                f"{name:<20} {w1:>6.2f} ({c1:>6.2f}) {wn:>6.2f} ({cn:>6.2f}) "
                f"{wn / w1:>5.2f} ({cn / c1:>5.2f}) {extra_wall:>7.2f} ({extra_cpu:>6.2f})"
            )
        (sw, sc), (nw, nc) = (
            best(runs["fork server"][args.models]),
            best(runs["no sandbox"][args.models]),
        )
        figures["sandbox_cost"] = {"wall": sw / nw, "cpu": sc / nc}
        print(
            f"sandbox cost, {args.models} models: {sw / nw:.2f}x wall ({sc / nc:.2f}x CPU) of the "
            "same run without it"
        )
        tw, tc = best(torch_floor)
        figures["import_torch"] = {"wall_s": tw, "cpu_s": tc}
        figures["cached_run"] = {}
        print(f"python -c 'import torch': {tw:.2f} ({tc:.2f})")
        for name in codes:
            cw, cc = best(cached[name])
            figures["cached_run"][name] = {
                "wall_s": cw,
                "cpu_s": cc,
                "over_import_torch": {"wall": cw / tw, "cpu": cc / tc},
            }
            print(
                f"fully cached run of {args.models} models, {name}: {cw:.2f} ({cc:.2f}); "
                f"ratio to import torch {cw / tw:.2f} ({cc / tc:.2f})"
            )
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
