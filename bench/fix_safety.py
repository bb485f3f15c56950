"""Fix safety at scale: every fixer, on mutated copies of every real model folder of the
published wheels.

For each model folder of each release (downloaded at run time by ``bench/corpus.py``) and each
rule that has a fix (``fix_applicability`` set in the registry, and a mutation below that can
provoke it), the script copies the package to a scratch tree, applies one mutation that creates
the finding, runs ``qaihm-lint --fix --unsafe-fixes`` on the folder and checks:

* the finding was created by the mutation (else: counted as "not provoked", not a failure);
* every changed file still parses (Python with ``ast``, YAML with ``yaml.safe_load``);
* the finding is gone, and no finding appeared that the unmutated folder did not have;
* a second ``--fix`` changes no byte;
* nothing outside the folder changed (checked per run and, by content, once per release).

    python bench/fix_safety.py [--versions 0.46.1 0.65.0] [--limit N] [--codes QAI001,QAI202]

Exit status 1 when any check failed; the counts are printed (and written with ``--json``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import VERSIONS, package_root

from qaihm_lint.cli import main as cli_main
from qaihm_lint.rules import all_rules

# A mutation edits a folder in place and returns the files it touched, or None when the folder
# offers no place for it.
Mutation = Callable[[Path], "list[str] | None"]


def _edit(path: Path, change: Callable[[str], str | None]) -> bool:
    if not path.is_file():
        return False
    text = path.read_bytes().decode("utf-8")
    new = change(text)
    if new is None or new == text:
        return False
    path.write_bytes(new.encode("utf-8"))
    return True


def _sub_once(pattern: str, replacement: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern, re.MULTILINE)

    def change(text: str) -> str | None:
        new, count = compiled.subn(replacement, text, count=1)
        return new if count else None

    return change


def unused_noqa(folder: Path) -> list[str] | None:
    # QAI206 (a literal litemp percentage out of range) never fires on an import line.
    for name in ("model.py", "app.py", "demo.py"):
        if _edit(folder / name, _sub_once(r"^(import [\w.]+)$", r"\1  # noqa: QAI206")):
            return [name]
    for name in ("info.yaml", "manifest.yaml"):
        if _edit(folder / name, _sub_once(r"^(name: .*)$", r"\1  # noqa: QAI206")):
            return [name]
    return None


def drop_classmethod(folder: Path) -> list[str] | None:
    change = _sub_once(r"^([ \t]+)@classmethod\n(\1def from_pretrained\b)", r"\2")
    return ["model.py"] if _edit(folder / "model.py", change) else None


def drop_staticmethod(folder: Path) -> list[str] | None:
    if not (folder / "info.yaml").is_file():
        return None  # the manifest layout wants instance methods
    change = _sub_once(r"^([ \t]+)@staticmethod\n(\1def get_(?:input_spec|output_names)\b)", r"\2")
    return ["model.py"] if _edit(folder / "model.py", change) else None


def torch_load_without_map_location(folder: Path) -> list[str] | None:
    def change(text: str) -> str:
        return text.rstrip("\n") + (
            "\n\n\ndef _fix_safety_probe(path):\n    import torch\n\n    return torch.load(path)\n"
        )

    return ["model.py"] if _edit(folder / "model.py", change) else None


def strip_trace_marker(folder: Path) -> list[str] | None:
    change = _sub_once(r"^[ \t]*@pytest\.mark\.trace\n(?=(?:[ \t]*@.*\n)*[ \t]*def test_trace)", "")
    return ["test.py"] if _edit(folder / "test.py", change) else None


def hardcoded_cuda(folder: Path) -> list[str] | None:
    def change(text: str) -> str:
        return text.rstrip("\n") + "\n\n\ndef _fix_safety_probe(x):\n    return x.cuda()\n"

    return ["model.py"] if _edit(folder / "model.py", change) else None


def loosen_pin(folder: Path) -> list[str] | None:
    change = _sub_once(r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==", r"\1>=")
    return ["requirements.txt"] if _edit(folder / "requirements.txt", change) else None


def duplicate_line(folder: Path) -> list[str] | None:
    def change(text: str) -> str | None:
        for line in text.splitlines():
            if re.match(r"^[A-Za-z0-9]", line):
                return text.rstrip("\n") + "\n" + line + "\n"
        return None

    return ["requirements.txt"] if _edit(folder / "requirements.txt", change) else None


def stale_flag(folder: Path) -> list[str] | None:
    path = folder / "code-gen.yaml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if "global_requirements_incompatible" in text:
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + "global_requirements_incompatible: true\n", encoding="utf-8")
    return ["code-gen.yaml"]


MUTATIONS: dict[str, Mutation] = {
    "QAI001": unused_noqa,
    "QAI202": drop_classmethod,
    "QAI204": drop_staticmethod,
    "QAI301": loosen_pin,
    "QAI303": stale_flag,
    "QAI305": duplicate_line,
    "QAI501": hardcoded_cuda,
    "QAI502": torch_load_without_map_location,
    "QAI602": strip_trace_marker,
}


# ---------------------------------------------------------------------------------------------


def _run(folder: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        # QAI306 (cross-model conflicts) re-reads every model of the package on each run:
        # ~1 s a run on 0.65.0, and no fixer touches what it checks.
        code = cli_main(
            [
                str(folder),
                "--no-cache",
                "--jobs",
                "1",
                "--output-format",
                "json",
                "--ignore",
                "QAI306",
                *args,
            ]
        )
    findings = json.loads(out.getvalue()) if code in (0, 1) else []
    return code, findings, err.getvalue()


def _key(finding: dict[str, object], folder: Path) -> tuple[str, str, str]:
    name = Path(str(finding["filename"])).resolve()
    relative = name.relative_to(folder) if name.is_relative_to(folder) else name
    return str(finding["code"]), str(relative), str(finding["message"])


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _tree_digest(root: Path, skip: Path | None = None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if ".qaihm_lint_cache" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _stat_snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    """Cheap per-run check of everything outside ``skip``: size, mtime and inode (a rename over
    a file changes the inode). The content digest is compared once per release."""
    out = {}
    for path in root.rglob("*"):
        if path == skip or skip in path.parents or ".qaihm_lint_cache" in path.parts:
            continue
        st = path.lstat()
        out[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _parses(path: Path) -> str | None:
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        if path.suffix == ".py":
            ast.parse(data)
        elif path.suffix in (".yaml", ".yml"):
            yaml.safe_load(data)
    except (SyntaxError, ValueError, yaml.YAMLError) as exc:
        return f"{path.name} no longer parses: {exc}"
    return None


def check_folder(
    folder: Path,
    code: str,
    mutate: Mutation,
    pristine: Path,
    package: Path,
    baseline: set[tuple[str, str, str]],
) -> tuple[str, str]:
    """(outcome, detail) for one mutation of one folder; the folder is restored afterwards."""
    try:
        touched = mutate(folder)
        if touched is None:
            return "not-applicable", ""
        status, mutated, err = _run(folder)
        targets = [f for f in mutated if f["code"] == code and _key(f, folder) not in baseline]
        if not targets:
            return "not-provoked", ""
        if not any(f["fix"] for f in targets):
            return "no-fix-offered", targets[0]["message"]  # type: ignore[return-value]
        outside = _stat_snapshot(package, folder)
        status, after, err = _run(folder, "--fix", "--unsafe-fixes")
        if status not in (0, 1) or "internal error" in err:
            return "failed", f"--fix exited {status}: {err.strip()[:300]}"
        problems = []
        for name in _folder_bytes(folder):
            problem = _parses(folder / name)
            if problem and _parses(pristine / name) is None:
                problems.append(problem)
        after_keys = {_key(f, folder) for f in after}
        left = [k for k in after_keys if k[0] == code and k not in baseline]
        if left:
            problems.append(f"{code} still reported after --fix: {left[0][2]}")
        new = sorted(k for k in after_keys - baseline if k[0] != code)
        if new:
            problems.append(f"new finding after --fix: {new[0]}")
        once = _folder_bytes(folder)
        _run(folder, "--fix", "--unsafe-fixes")
        if _folder_bytes(folder) != once:
            problems.append("a second --fix changed bytes")
        if _stat_snapshot(package, folder) != outside:
            problems.append("a file outside the folder changed")
        if problems:
            return "failed", "; ".join(problems)
        return "verified", ""
    finally:
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder, symlinks=True)


def run_version(
    version: str, codes: list[str], limit: int | None, failures: list[str]
) -> dict[str, Counter[str]]:
    source = package_root(version)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    with tempfile.TemporaryDirectory(prefix=f"fix-safety-{version}-") as scratch:
        package = Path(scratch) / "repo" / "qai_hub_models"
        shutil.copytree(source, package, symlinks=True)
        overall = _tree_digest(package)
        folders = sorted(
            p
            for p in (package / "models").iterdir()
            if p.is_dir()
            and not p.name.startswith(("_", "."))
            and any((p / m).is_file() for m in ("model.py", "info.yaml", "manifest.yaml"))
        )[:limit]
        started = time.monotonic()
        for index, folder in enumerate(folders, 1):
            pristine = source / "models" / folder.name
            status, before, err = _run(folder)
            if status not in (0, 1):
                failures.append(f"{version} {folder.name}: lint exited {status}: {err.strip()}")
                continue
            baseline = {_key(f, folder) for f in before}
            for code in codes:
                outcome, detail = check_folder(
                    folder, code, MUTATIONS[code], pristine, package, baseline
                )
                counts[code][outcome] += 1
                if outcome == "failed":
                    failures.append(f"{version} {folder.name} {code}: {detail}")
            if index % 25 == 0:
                print(
                    f"  {version}: {index}/{len(folders)} folders "
                    f"({time.monotonic() - started:.0f} s)",
                    file=sys.stderr,
                )
        if _tree_digest(package) != overall:
            failures.append(f"{version}: the scratch tree differs from the wheel after the run")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", nargs="*", default=list(VERSIONS))
    parser.add_argument("--limit", type=int, default=None, help="model folders per release")
    parser.add_argument("--codes", default=None, help="comma-separated fixable codes")
    parser.add_argument("--json", type=Path, default=None, help="write the counts here")
    args = parser.parse_args(argv)

    fixable = {c for c, rule in all_rules().items() if rule.fix_applicability is not None}
    without_mutation = sorted(fixable - set(MUTATIONS))
    codes = sorted(fixable & set(MUTATIONS))
    if args.codes:
        codes = [c for c in args.codes.split(",") if c in codes]
    print(f"fixable rules: {', '.join(sorted(fixable))}")
    if without_mutation:
        print(f"no mutation yet for: {', '.join(without_mutation)}")
    failures: list[str] = []
    report: dict[str, dict[str, dict[str, int]]] = {}
    for version in args.versions:
        counts = run_version(version, codes, args.limit, failures)
        report[version] = {code: dict(counts[code]) for code in codes}
        print(f"\n{version}:")
        print(
            f"  {'code':<8}{'verified':>10}{'failed':>8}{'no fix':>8}{'not provoked':>14}{'n/a':>6}"
        )
        for code in codes:
            c = counts[code]
            print(
                f"  {code:<8}{c['verified']:>10}{c['failed']:>8}{c['no-fix-offered']:>8}"
                f"{c['not-provoked']:>14}{c['not-applicable']:>6}"
            )
    total = sum(c.get("verified", 0) for v in report.values() for c in v.values())
    print(f"\nverified fixes: {total}; failures: {len(failures)}")
    for failure in failures[:50]:
        print(f"  FAILED {failure}")
    if args.json:
        args.json.write_text(json.dumps({"counts": report, "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
