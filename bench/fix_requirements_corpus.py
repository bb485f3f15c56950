"""Mutate copies of real model folders, fix them, and check the fixes (QAI301-QAI306, QAI702).

    python bench/fix_requirements_corpus.py /work/corpus/0.46.1/qai_hub_models [...more]

For each package: copy the files the requirements rules read (every model folder's
requirements*, code-gen.yaml, info.yaml / manifest.yaml, global_requirements.txt, the schema
and device files, scorecard-config.yaml) under a temporary directory, apply one mutation per
model that has a requirements.txt (cycling through the kinds below, some files turned to CRLF),
then:

1. lint: every mutation must be found (by the expected code, on the expected line);
2. ``--fix --unsafe-fixes``: every fixable finding must be gone on a re-lint, and nothing may
   be left that was not already an unfixable finding before (a deleted duplicate line may take
   an unfixable finding with it);
3. fix again: nothing may change (idempotence);
4. every changed file differs from its mutated version only on the mutated lines (plus
   code-gen.yaml's one flag line), with its line endings and comments intact.

The real tree is never modified. Exit 0 when every check holds.
"""

from __future__ import annotations

import argparse
import difflib
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.testing import fix_paths, lint_paths

SELECT = ["QAI3", "QAI702"]
COPIED_NAMES = ("info.yaml", "manifest.yaml", "code-gen.yaml", "__init__.py")
PACKAGE_FILES = ("global_requirements.txt", "configs/code_gen_yaml.py", "scorecard/device.py")
FLAG = "global_requirements_incompatible"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==([^\s;#]+)")


@dataclass
class Mutation:
    model: str
    kind: str
    file: str
    code: str  # the finding it must produce
    row: int | None  # where (None: anywhere in the file)


def copy_package(real: Path, target: Path) -> Path:
    package = target / "qai_hub_models"
    for relative in PACKAGE_FILES:
        source = real / relative
        if source.is_file():
            (package / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, package / relative)
    scorecard = real / "scorecard" / "models"
    for folder in sorted((real / "models").iterdir()):
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        names = [n for n in COPIED_NAMES if (folder / n).is_file()]
        names += [p.name for p in folder.glob("requirements*.txt")]
        if not names:
            continue
        out = package / "models" / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(folder / name, out / name)
        config = scorecard / folder.name / "scorecard-config.yaml"
        if config.is_file():
            dest = package / "scorecard" / "models" / folder.name / "scorecard-config.yaml"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, dest)
    (package / "__init__.py").write_text("")
    return package


def global_pins(package: Path) -> dict[str, str]:
    pins = {}
    for line in (package / "global_requirements.txt").read_text().splitlines():
        match = PIN.match(line.strip())
        if match and ";" not in line:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def mutate(package: Path, seed: int) -> list[Mutation]:
    rng = random.Random(seed)
    pins = global_pins(package)
    manifest = any((package / "models").glob("*/manifest.yaml"))
    kinds = ["unpin-global", "bare-global", "duplicate", "conflict", "stale-flag", "comment-unpin"]
    mutations: list[Mutation] = []
    folders = sorted(p.parent for p in (package / "models").glob("*/requirements.txt"))
    for index, folder in enumerate(folders):
        path = folder / "requirements.txt"
        text = path.read_text()
        lines = text.splitlines()
        kind = kinds[index % len(kinds)]
        model = folder.name
        crlf = index % 3 == 0
        if kind in ("unpin-global", "bare-global", "comment-unpin"):
            # A line pinned exactly as global pins it: unpinning it is safely fixable.
            candidates = [
                i
                for i, line in enumerate(lines)
                if (m := PIN.match(line)) and pins.get(m.group(1).lower()) == m.group(2)
            ]
            if not candidates:
                kind = "duplicate"
            else:
                i = rng.choice(candidates)
                match = PIN.match(lines[i])
                assert match is not None
                rest = lines[i][match.end() :]
                if kind == "unpin-global":
                    lines[i] = f"{match.group(1)}>={match.group(2)}{rest}"
                elif kind == "bare-global":
                    lines[i] = f"{match.group(1)}{rest}"
                else:
                    lines[i] = f"{match.group(1)}>={match.group(2)}  # tested with the global pin"
                if not manifest or kind == "bare-global":
                    mutations.append(Mutation(model, kind, "requirements.txt", "QAI301", i + 1))
                else:
                    kind = "skip"  # ranges are accepted in the manifest layout
        if kind == "duplicate":
            candidates = [
                i
                for i, line in enumerate(lines)
                if line.strip() and not line.lstrip().startswith(("#", "-"))
            ]
            if candidates:
                i = rng.choice(candidates)
                lines.append(lines[i])
                mutations.append(Mutation(model, kind, "requirements.txt", "QAI305", len(lines)))
        if kind == "conflict":
            lines.append("torch==1.13.1")
            flagged = _flag_set(folder, manifest)
            if not flagged:
                mutations.append(Mutation(model, kind, "requirements.txt", "QAI302", len(lines)))
        if kind == "stale-flag" and not manifest and not (folder / "code-gen.yaml").exists():
            # Only lines already in global: the flag is provably unneeded.
            global_lines = {
                line.split("#")[0].strip()
                for line in (package / "global_requirements.txt").read_text().splitlines()
            }
            lines = [line for line in lines if line.split("#")[0].strip() in global_lines]
            (folder / "code-gen.yaml").write_text(
                f"# export options\nis_aimet: false\n{FLAG}: true  # stale\n"
            )
            mutations.append(Mutation(model, kind, "code-gen.yaml", "QAI303", 3))
        newline = "\r\n" if crlf else "\n"
        path.write_bytes((newline.join(lines) + newline).encode())
    return mutations


def _flag_set(folder: Path, manifest: bool) -> bool:
    if manifest:
        config = folder.parents[1] / "scorecard" / "models" / folder.name / "scorecard-config.yaml"
        return config.is_file() and f"{FLAG}: true" in config.read_text()
    code_gen = folder / "code-gen.yaml"
    return code_gen.is_file() and f"{FLAG}: true" in code_gen.read_text()


def snapshot(package: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in package.rglob("*") if p.is_file()}


def key(d: object) -> tuple[str, str, int, str]:
    return (d.code, str(d.path), d.start.row, d.message)  # type: ignore[attr-defined]


def run(real: Path, seed: int) -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="qaihm-fix-bench-") as temp:
        package = copy_package(real, Path(temp))
        baseline = lint_paths([package], select=SELECT)
        mutations = mutate(package, seed)
        mutated = snapshot(package)
        before = lint_paths([package], select=SELECT)
        found = {(d.model_id, d.code, d.path.name, d.start.row) for d in before}
        missed = [
            m
            for m in mutations
            if not any(
                f[0] == m.model
                and f[1] == m.code
                and f[2] == m.file
                and (m.row is None or f[3] == m.row)
                for f in found
            )
        ]
        fixable = [d for d in before if d.fix is not None]
        unfixable_before = sorted(key(d) for d in before if d.fix is None)
        outcome = fix_paths([package], select=SELECT, unsafe=True)
        after = lint_paths([package], select=SELECT)
        left_fixable = [d for d in after if d.fix is not None]
        again = fix_paths([package], select=SELECT, unsafe=True)
        changed = snapshot(package)
        bad_diffs = _check_diffs(mutated, changed)
        print(f"== {real}")
        print(
            f"   model folders copied: {len(list((package / 'models').iterdir()))}; "
            f"real-tree findings: {dict(sorted(Counter(d.code for d in baseline).items()))}"
        )
        print(f"   mutations: {len(mutations)} {dict(Counter(m.kind for m in mutations))}")
        print(
            f"   findings after mutation: {len(before)} "
            f"{dict(sorted(Counter(d.code for d in before).items()))}; "
            f"with a fix: {len(fixable)} "
            f"({dict(Counter(d.fix.applicability.value for d in fixable if d.fix))})"
        )
        print(f"   mutations not detected: {len(missed)}")
        for m in missed:
            print(f"     MISSED {m}")
        print(
            f"   fix: {outcome.fixed_count} applied, {len(outcome.changed)} files changed, "
            f"skipped: {len(outcome.skipped)}"
        )
        for line in outcome.skipped:
            print(f"     {line}")
        new_after = set(key(d) for d in after) - set(unfixable_before)
        print(
            f"   re-lint: {len(after)} findings left, {len(left_fixable)} still fixable, "
            f"{len(new_after)} not among the unfixable ones before the fix "
            f"(unfixable before: {len(unfixable_before)}; gone with a deleted duplicate line: "
            f"{len(set(unfixable_before) - set(key(d) for d in after))})"
        )
        left_keys = sorted(key(d) for d in after)
        for item in sorted(set(left_keys) - set(unfixable_before)):
            side = "new after fix" if item in left_keys else "gone after fix"
            print(f"     {side}: {item[0]} {Path(item[1]).parent.name}:{item[2]} {item[3][:150]}")
        print(
            f"   second fix run changed {len(again.changed)} files (idempotent: "
            f"{not again.changed})"
        )
        print(f"   diffs touching more than the mutated lines: {len(bad_diffs)}")
        for line in bad_diffs[:10]:
            print(f"     {line}")
        ok = (
            not missed
            and not left_fixable
            and not again.changed
            and not bad_diffs
            and not new_after
        )
    return ok


def _check_diffs(before: dict[Path, bytes], after: dict[Path, bytes]) -> list[str]:
    """Each changed file: line endings kept, comments kept, at most a few lines touched."""
    problems = []
    for path, data in after.items():
        old = before.get(path)
        if old == data:
            continue
        if old is None:
            if path.name != "code-gen.yaml" or data != f"{FLAG}: true\n".encode():
                problems.append(f"{path}: unexpected new file {data[:60]!r}")
            continue
        old_lines = old.decode().splitlines(keepends=True)
        new_lines = data.decode().splitlines(keepends=True)
        mixed = bool(old.count(b"\r\n")) and data.count(b"\n") != data.count(b"\r\n")
        if (b"\r\n" in old) != (b"\r\n" in data) or mixed:
            problems.append(f"{path}: line endings changed")
        old_comments = [ln.split("#", 1)[1] for ln in old_lines if " #" in ln or ln.startswith("#")]
        new_comments = [ln.split("#", 1)[1] for ln in new_lines if " #" in ln or ln.startswith("#")]
        removed = [c for c in old_comments if c not in new_comments]
        if removed and not all("stale" in c or "tested with" in c for c in removed):
            problems.append(f"{path}: comments lost: {removed}")
        touched = [ln for ln in difflib.ndiff(old_lines, new_lines) if ln[:1] in "+-"]
        if len(touched) > 4:
            problems.append(f"{path}: {len(touched)} lines touched")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", type=Path, help="qai_hub_models directories")
    parser.add_argument("--seed", type=int, default=46)
    args = parser.parse_args()
    results = [run(package.resolve(), args.seed) for package in args.packages]
    print("OK" if all(results) else "FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
