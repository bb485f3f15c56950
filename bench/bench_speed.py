"""Speed and memory of qaihm-lint on the real corpus, against the parse floor and Fixit 2.

Everything is measured in one run on this machine, best of N, each command in a fresh process:

1. floor: ``libcst.parse_module`` and ``ast.parse`` over exactly the files the linter parses
   (hand-written Python of every model folder, plus the shared code the index reads);
2. ``qaihm-lint --no-cache`` on the whole models/ tree (cold), default --jobs;
3. warm (cache on, nothing changed), warm after touching one model.py, after touching a shared
   base class file;
4. one folder as pre-commit runs it (models/yolov7), cold and warm;
5. ``fixit lint`` with one equivalent rule (bench/fixit_peer_rule.py) on the same tree;
6. peak RSS of each (the largest single process, workers included).

Usage: python bench/bench_speed.py [--versions 0.46.1,0.65.0] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import package_root

HERE = Path(__file__).resolve().parent
# Runs a command and reports its wall time and the peak RSS of its process tree (KiB).
_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": elapsed, "rss_kib": peak,
                  "code": done.returncode, "stderr": done.stderr.decode(errors="replace")[-800:]}))
"""


# As a user runs it: bytecode is cached (pip compiles installed packages; an editable install
# compiles on first import unless PYTHONDONTWRITEBYTECODE forbids it, which would charge
# qaihm-lint for compiling its own source on every run while libcst gets its .pyc files).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str], repeat: int, cwd: Path, before: Any = None) -> dict[str, Any]:
    runs = []
    for number in range(repeat):
        if before is not None:
            before(number)
        out = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *command],
            cwd=cwd,
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        run = json.loads(out)
        if run["code"] not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed (exit {run['code']}):\n{run['stderr']}")
        runs.append(run)
    best = min(runs, key=lambda run: run["seconds"])
    return {
        "seconds": best["seconds"],
        "rss_mb": max(r["rss_kib"] for r in runs) / 1024,
        "exit": best["code"],
    }


def files_to_parse(root: Path) -> list[Path]:
    sys.path.insert(0, str(HERE.parent))
    from qaihm_lint.workspace import discover

    files = [
        source.path
        for folder in discover([root / "models"]).folders
        for source in folder.python_files()
    ]
    for library in ("utils", "models/_shared", "models/templates"):
        if (root / library).is_dir():
            files.extend(sorted((root / library).rglob("*.py")))
    return files


def parse_floor(files: list[Path], repeat: int) -> dict[str, float]:
    import libcst

    texts = [path.read_text(encoding="utf-8") for path in files]
    result = {}
    for name, parse in (("libcst", libcst.parse_module), ("ast", ast.parse)):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for text in texts:
                # A file either parser rejects still costs its attempt.
                with contextlib.suppress(Exception):
                    parse(text)
            best = min(best, time.perf_counter() - start)
        result[name] = best
    return result


def touch(path: Path, original: bytes) -> Any:
    def edit(number: int) -> None:
        path.write_bytes(original + f"\n# bench edit {number} {time.time_ns()}\n".encode())

    return edit


def bench_version(version: str, repeat: int, with_fixit: bool = True) -> dict[str, Any]:
    root = package_root(version)
    # Sub-second runs are at the mercy of the machine's hiccups: take the best of more of them.
    quick = max(repeat, 7)
    work = root.parent
    lint = [sys.executable, "-m", "qaihm_lint"]
    models = str(root / "models")
    cache = work / ".qaihm_lint_cache"
    shutil.rmtree(cache, ignore_errors=True)
    files = files_to_parse(root)
    import compileall

    compileall.compile_dir(HERE.parent / "qaihm_lint", quiet=1)
    results: dict[str, Any] = {"version": version, "files_parsed": len(files)}
    results["floor"] = parse_floor(files, repeat)
    results["import_libcst"] = measure([sys.executable, "-c", "import libcst"], quick, work)
    results["cold"] = measure([*lint, "--no-cache", models], repeat, work)
    subprocess.run([*lint, models], cwd=work, env=ENV, capture_output=True, check=False)
    results["warm"] = measure([*lint, models], quick, work)

    model_py = root / "models" / "yolov7" / "model.py"
    shared = next(
        p
        for p in (root / "models/_shared/yolo/model.py", root / "models/templates/yolo/model.py")
        if p.exists()
    )
    for label, path in (("warm_touch_model", model_py), ("warm_touch_shared", shared)):
        original = path.read_bytes()
        try:
            results[label] = measure([*lint, models], quick, work, before=touch(path, original))
        finally:
            path.write_bytes(original)
    subprocess.run([*lint, models], cwd=work, env=ENV, capture_output=True, check=False)

    folder = str(root / "models" / "yolov7")
    results["one_folder_cold"] = measure([*lint, "--no-cache", folder], quick, work)
    results["one_folder_warm"] = measure([*lint, folder], quick, work)

    fixit = shutil.which("fixit", path=str(Path(sys.executable).parent))
    if fixit and with_fixit:
        peer = work / "fixit-peer"
        shutil.rmtree(peer, ignore_errors=True)
        shutil.copytree(root / "models", peer / "models")
        shutil.copy(HERE / "fixit_peer_rule.py", peer / "fixit_peer_rule.py")
        (peer / "pyproject.toml").write_text(
            '[tool.fixit]\nroot = true\nenable = [".fixit_peer_rule"]\ndisable = ["fixit.rules"]\n'
        )
        results["fixit"] = measure([fixit, "lint", "models"], repeat, peer)
    return results


def ratios(r: dict[str, Any]) -> dict[str, float]:
    start = r["import_libcst"]["seconds"]
    out = {
        "cold / libcst floor": r["cold"]["seconds"] / r["floor"]["libcst"],
        "warm / import libcst": r["warm"]["seconds"] / start,
        "warm touch model / import libcst": r["warm_touch_model"]["seconds"] / start,
        "warm touch shared / import libcst": r["warm_touch_shared"]["seconds"] / start,
        "one folder warm / import libcst": r["one_folder_warm"]["seconds"] / start,
        "one folder cold / import libcst": r["one_folder_cold"]["seconds"] / start,
        "warm / cold": r["warm"]["seconds"] / r["cold"]["seconds"],
    }
    if "fixit" in r:
        out["fixit / cold"] = r["fixit"]["seconds"] / r["cold"]["seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", default="0.46.1,0.65.0")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "speed.json")
    parser.add_argument("--skip-fixit", action="store_true", help="leave out the Fixit peer")
    args = parser.parse_args(argv)
    report = []
    for version in args.versions.split(","):
        r = bench_version(version, args.repeat, with_fixit=not args.skip_fixit)
        r["ratios"] = ratios(r)
        report.append(r)
        print(
            f"\nqai-hub-models {version}: {r['files_parsed']} files parsed, {os.cpu_count()} cores"
        )
        print(f"  {'measure':<28}{'seconds':>9}{'peak MB':>9}")
        print(f"  {'floor libcst (1 proc)':<28}{r['floor']['libcst']:>9.3f}")
        print(f"  {'floor ast (1 proc)':<28}{r['floor']['ast']:>9.3f}")
        for key in (
            "import_libcst",
            "cold",
            "warm",
            "warm_touch_model",
            "warm_touch_shared",
            "one_folder_cold",
            "one_folder_warm",
            "fixit",
        ):
            if key in r:
                print(f"  {key:<28}{r[key]['seconds']:>9.3f}{r[key]['rss_mb']:>9.1f}")
        for name, value in r["ratios"].items():
            print(f"  {name:<36}{value:>7.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
