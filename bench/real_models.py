"""``--deep`` on real upstream models, offline: every stage but compile, on published trees.

For each release (default 0.46.1, info.yaml layout, and 0.65.0, manifest layout):

1. its wheel is unpacked from ``--wheels`` (upstream code is fetched at run time, never kept
   in this repository);
2. the environments the chosen models need are built (or reused) under ``--env-dir`` the way
   ``--deep`` builds them, timed and measured (disk use, symlinked torch not counted);
3. ``seed_weights.py`` runs in each environment and saves random weights of the right shapes
   where the models' own loaders look (torch hub checkpoints, Hugging Face snapshots,
   ultralytics' weights folder, the package's asset store), so nothing is downloaded; external
   repositories (SourceAsRoot, ``external_repos``) are cloned into the asset store as upstream
   clones them, from the network or, with ``--repo-mirror URL=PATH``, from a local mirror;
4. ``--deep --no-compile`` runs on the models (load, trace, ONNX), then again to show that an
   unchanged model is served from the cache.

Prints a Markdown table per tree and, with ``--json FILE``, every stage verdict. Exit status 1
when any model has a finding, a stage that is not ok, or is not served from the cache on the
second run. ``tests/real/`` runs it as a pytest tier (``pytest -m real``).

Usage: python bench/real_models.py [--versions 0.46.1 0.65.0] [--models resnet18 ...]
                                   [--wheels DIR] [--work DIR] [--env-dir DIR] [--json FILE]
                                   [--repo-mirror URL=PATH ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
SEEDER = HERE / "seed_weights.py"
MIRRORS_VARIABLE = "QAIHM_REPO_MIRRORS"  # URL=PATH entries, as --repo-mirror takes them
# Bare mirrors laid out as <owner>+<name>/repo (what this project's fetch tooling leaves), used
# for https://github.com/<owner>/<name> when neither --repo-mirror nor $QAIHM_REPO_MIRRORS is set.
MIRROR_DIR = Path(os.environ.get("QAIHM_MIRROR_DIR", "/work/.mirror"))
DEFAULT_WHEELS = Path(os.environ.get("QAIHM_WHEELS", "/work/main/bench/.cache/wheels"))
DEFAULT_WORK = Path(os.environ.get("QAIHM_REAL_WORK", "/tmp/qaihm-lint-real-models"))
VERSIONS = ("0.46.1", "0.65.0")
# Families: torchvision classifiers, a torchvision segmentation model, two detectors with box
# outputs (ultralytics, Hugging Face DETR with a timm backbone), Hugging Face transformers, and
# a segmentation model built from an external repository (0.46.1: SourceAsRoot, 0.65.0:
# external_repos) with its weights in the package's asset store.
MODELS = (
    "resnet18",
    "squeezenet1_1",
    "googlenet",
    "mobilenet_v3_small",
    "fcn_resnet50",
    "yolov8_det",
    "yolov11_det",
    "detr_resnet50",
    "beit",
    "mobile_vit",
    "ddrnet23_slim",
)
STAGES = frozenset({"load", "trace", "onnx"})

sys.path.insert(0, str(TREE))


@dataclass
class EnvReport:
    name: str
    key: str
    models: list[str]
    seconds: float  # the build's, from its ready.json when reused
    reused: bool
    size_mb: float


@dataclass
class TreeReport:
    version: str
    layout: str
    environments: list[EnvReport] = field(default_factory=list)
    seeding: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> stage -> status
    findings: list[str] = field(default_factory=list)
    first_run_seconds: float = 0.0
    second_run_seconds: float = 0.0
    second_run_workers: int = -1

    @property
    def passed(self) -> bool:
        all_ok = all(
            status == "ok" for stages in self.stages.values() for status in stages.values()
        )
        return bool(self.stages) and all_ok and not self.findings and self.second_run_workers == 0


def unpack(version: str, wheels: Path, work: Path) -> Path:
    """The unpacked wheel of ``version`` (a folder holding qai_hub_models/)."""
    target = work / "trees" / version
    if (target / "qai_hub_models").is_dir():
        return target
    matches = sorted(wheels.glob(f"qai_hub_models-{version}-*.whl"))
    if not matches:
        raise SystemExit(f"no wheel of qai_hub_models {version} in {wheels} (--wheels DIR)")
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(matches[0]) as archive:
        archive.extractall(partial)
    partial.rename(target)
    return target


def seed_environment(work: Path) -> dict[str, str]:
    """Where the loaders look, inside ``work``; the same for seeding and for the deep run."""
    seeds = work / "seeds"
    ultralytics = seeds / "ultralytics"
    ultralytics.mkdir(parents=True, exist_ok=True)  # it must exist to count as writable
    store = seeds / "qaihm"
    (store / ".qaihm").mkdir(parents=True, exist_ok=True)  # the package's asset store
    return {
        "TORCH_HOME": str(seeds / "torch"),
        "HF_HOME": str(seeds / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(ultralytics),
        "QAIHM_STORE_ROOT": str(store),
    }


def default_mirrors() -> list[str]:
    """``$QAIHM_REPO_MIRRORS``, else the mirrors found in MIRROR_DIR."""
    if MIRRORS_VARIABLE in os.environ:
        return os.environ[MIRRORS_VARIABLE].split()
    if not MIRROR_DIR.is_dir():
        return []
    found = []
    for folder in sorted(MIRROR_DIR.iterdir()):
        owner, plus, name = folder.name.partition("+")
        if plus and (folder / "repo").is_dir():
            found.append(f"https://github.com/{owner}/{name}={folder / 'repo'}")
    return found


def mirror_entry(text: str) -> str:
    """One --repo-mirror argument, checked: URL=PATH with PATH a git repository."""
    url, separator, path = text.rpartition("=")
    if not separator or "://" not in url or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: expected URL=PATH, PATH a git repository")
    return f"{url}={Path(path).resolve()}"


@contextmanager
def environment_variables(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _size_mb(folder: Path) -> float:
    completed = subprocess.run(
        ["du", "-sk", str(folder)], capture_output=True, text=True, check=False
    )
    try:
        return int(completed.stdout.split()[0]) / 1024
    except (IndexError, ValueError):
        return float("nan")


def check_tree(
    version: str,
    models: Sequence[str],
    wheels: Path,
    work: Path,
    env_dir: Path,
    mirrors: Sequence[str] | None = None,
) -> TreeReport:
    from qaihm_lint.deep import DeepOptions, run_deep_detailed
    from qaihm_lint.deep.base_env import base_interpreter
    from qaihm_lint.deep.envbuild import EnvStore
    from qaihm_lint.deep.environments import EnvSpec, plan_environments
    from qaihm_lint.workspace import discover

    root = unpack(version, wheels, work)
    folders = [
        folder
        for folder in discover([root / "qai_hub_models" / "models"]).folders
        if folder.model_id in models
    ]
    report = TreeReport(version, folders[0].layout.value if folders else "?")
    seeds = seed_environment(work)
    # Seeding imports the models, and 0.65.0's write their external_repos links into the tree
    # they are imported from: a throwaway copy, so that the checked tree stays as unpacked.
    seed_tree = work / "seed-trees" / version
    shutil.rmtree(seed_tree, ignore_errors=True)
    shutil.copytree(root, seed_tree, symlinks=True)
    plan = plan_environments(folders, base_interpreter())
    store = EnvStore(env_dir, plan.base)
    for spec in plan.specs():
        users = sorted(m for m, choice in plan.by_model.items() if choice == spec)
        print(f"{version}: environment {spec.short} for {', '.join(users)} ...", flush=True)
        built = store.ensure(spec)
        home = env_dir / spec.key
        seconds = built.seconds
        if built.reused:
            seconds = json.loads((home / "ready.json").read_text())["seconds"]
        report.environments.append(
            EnvReport(spec.name, spec.key[:8], users, seconds, built.reused, _size_mb(home))
        )
        completed = subprocess.run(
            [str(built.python), str(SEEDER), *users],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                **seeds,
                "PYTHONPATH": str(seed_tree),
                "CUDA_VISIBLE_DEVICES": "",
                "PYTHONDONTWRITEBYTECODE": "1",  # the checked tree stays as unpacked
                "QAIHM_CI": "1",  # clones without asking, as upstream's CI and the workers do
                MIRRORS_VARIABLE: " ".join(default_mirrors() if mirrors is None else mirrors),
            },
            cwd=work,
            check=False,
            timeout=1800,
        )
        for line in completed.stdout.splitlines():
            if line.startswith("{"):
                seeded = json.loads(line)
                report.seeding.append(seeded)
                problem = seeded.get("error") or (
                    seeded.get("offline_load") != "ok" and seeded.get("offline_load")
                )
                if problem:
                    report.findings.append(f"seeding {seeded['model']}: {problem}")
        if completed.returncode != 0:
            report.findings.append(f"seeding in {spec.short} failed: {completed.stderr[-500:]}")
    assert all(isinstance(choice, EnvSpec) for choice in plan.by_model.values())
    options = DeepOptions(
        compile=False,
        stages=STAGES,
        progress=False,
        jobs=1,
        environments=True,
        env_dir=env_dir,
        cache_dir=work / "cache" / version,
        timeout=900,
    )
    with environment_variables(seeds):
        started = time.monotonic()
        first = run_deep_detailed(folders, options)
        report.first_run_seconds = time.monotonic() - started
        started = time.monotonic()
        second = run_deep_detailed(folders, options)
        report.second_run_seconds = time.monotonic() - started
    report.second_run_workers = second.workers_run
    for outcome in first.outcomes:
        report.stages[outcome.folder.model_id] = {
            record.stage + (f"[{record.component}]" if record.component else ""): record.status
            for record in outcome.records
        }
    report.findings += [
        f"{d.model_id}: {d.code} {d.message}" for d in first.diagnostics + second.diagnostics
    ]
    return report


def markdown(report: TreeReport) -> str:
    lines = [f"### {report.version} ({report.layout} layout)", ""]
    lines += ["| environment | models | build (s) | size (MB) |", "|---|---|---:|---:|"]
    for env in report.environments:
        lines.append(
            f"| {env.name} ({env.key}) | {', '.join(env.models)} | {env.seconds:.0f} | "
            f"{env.size_mb:.0f} |"
        )
    stage_names = ("import", "from_pretrained", "input_spec", "forward", "trace", "onnx")
    lines += ["", "| model | " + " | ".join(stage_names) + " |", "|---" * 7 + "|"]
    for model, stages in sorted(report.stages.items()):
        cells = [stages.get(stage, "-") for stage in stage_names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"First deep run {report.first_run_seconds:.0f} s; second run "
        f"{report.second_run_seconds:.1f} s with {report.second_run_workers} worker(s) run.",
    ]
    lines += [f"- finding: {finding}" for finding in report.findings]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--env-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--repo-mirror",
        action="append",
        type=mirror_entry,
        metavar="URL=PATH",
        help="clone the external repository URL from the git repository PATH (repeatable; "
        f"default ${MIRRORS_VARIABLE}, else the mirrors under {MIRROR_DIR})",
    )
    args = parser.parse_args(argv)
    env_dir = args.env_dir or args.work / "envs"
    reports = [
        check_tree(version, args.models, args.wheels, args.work, env_dir, args.repo_mirror)
        for version in args.versions
    ]
    for report in reports:
        print(markdown(report), end="\n\n")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
    return 0 if all(report.passed for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
