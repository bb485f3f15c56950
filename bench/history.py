"""Judge every rule against upstream's own history (issues 10 and 17).

Lints ``qai_hub_models/`` at every release of upstream with this checkout's linter (the git tags
of quic/ai-hub-models, or with ``--source wheels`` every wheel published on PyPI; see
``releases.py``), follows each finding from release to release and asks why it went away:

* confirmed       the flagged file still exists and its content changed: the maintainers fixed it
* gone-folder     the model folder was removed
* gone-file       the flagged file was removed or renamed, the folder remains
* gone-unchanged  the flagged file is identical: something else made the finding vanish
* long-lived      present in >= 20 consecutive tags while the flagged file kept being edited
* open            still present at the last tag; new: first seen after the first tag

Usage: python bench/history.py [--source tags|wheels] [--repo GITDIR] [--versions V ...]
                               [--workers 2] [--details CODE] [--json OUT] [--markdown]
                               [--per-release]
Without --repo the upstream repository is cloned into bench/.cache/; wheels are downloaded with
pip into bench/.cache/wheels/. Extracted trees and lint results (keyed by a digest of
qaihm_lint/'s sources) are cached under bench/.cache/history/. ``--per-release`` prints the
default errors and warnings per code in each release: a jump between two releases that the
model code does not explain is a bug of the linter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from releases import (
    CACHE,
    HISTORY,
    PACKAGE,
    Snapshot,
    Tree,
    diff,
    published_versions,
    release_tags,
    tag_snapshot,
    wheel_snapshot,
)

BENCH = Path(__file__).resolve().parent
CHECKOUT = BENCH.parent
UPSTREAM = "https://github.com/quic/ai-hub-models"
LONG_LIVED_TAGS = 20
OUTCOMES = ("confirmed", "gone-folder", "gone-file", "gone-unchanged")
COLUMNS = (*OUTCOMES, "long-lived", "new", "open", "total")


@dataclass(frozen=True)
class Finding:
    code: str
    rule: str
    model_id: str | None
    path: str  # relative to qai_hub_models/
    row: int
    message: str
    severity: str = "error"


@dataclass
class Instance:
    """One finding followed over a run of consecutive tags."""

    code: str
    rule: str
    model_id: str | None
    path: str
    start: int  # index of the first tag
    findings: list[Finding] = field(default_factory=list)
    end: int = -1  # index of the last tag with the finding
    asleep: bool = False  # its folder is missing from this one tag
    outcome: str = "open"
    excerpt: str = ""
    contents: int = 0  # distinct versions of the flagged file while the finding lived
    long_lived: bool = False


# Line references inside messages move with every edit above them; versions must stay.
_LINE_REFS = (
    (re.compile(r"(\.(?:py|txt|ya?ml|toml|cfg)):\d+(?::\d+)?"), r"\1"),
    (re.compile(r"\blines? \d+(?:\s*-\s*\d+)?"), "line"),
)


def normalize(message: str) -> str:
    for pattern, replacement in _LINE_REFS:
        message = pattern.sub(replacement, message)
    return message


def subject(finding: Finding) -> str:
    """What a finding is about, coarser than its message: a requirement finding whose pin or
    partner changed is the same finding reworded, and so is a short SHA replaced by another."""
    if finding.code.startswith("QAI3"):
        token = re.search(r"`([A-Za-z0-9][A-Za-z0-9._-]*)", finding.message)
        if token:
            return re.sub(r"[-_.]+", "-", token.group(1)).lower()
    masked = re.sub(r"'[^']*'", "'*'", normalize(finding.message))
    return re.sub(r"\d+", "#", masked)


def keyed(findings: Sequence[Finding]) -> dict[tuple[Any, ...], Finding]:
    """Findings of one tag by key; identical keys in one file are numbered in row order."""
    seen: Counter[tuple[Any, ...]] = Counter()
    result = {}
    for finding in sorted(findings, key=lambda f: (f.path, f.row, f.code, f.message)):
        base = (finding.code, finding.model_id, finding.path, normalize(finding.message))
        key = (*base, seen[base])
        result[key] = finding
        seen[base] += 1
    return result


def follow(
    per_tag: Sequence[Sequence[Finding]], folders: Sequence[set[str]] | None = None
) -> list[Instance]:
    """Chain findings of consecutive tags into instances (exact key first, then subject).
    With ``folders`` (the model folders of each tag), a finding whose folder is missing from
    a single release (some were left out of one and came back) sleeps through that tag."""
    done: list[Instance] = []
    live: dict[tuple[Any, ...], Instance] = {}
    for index, findings in enumerate(per_tag):
        current = keyed(findings)
        nxt: dict[tuple[Any, ...], Instance] = {}
        for key in [k for k in current if k in live]:
            nxt[key] = live.pop(key)
        unmatched = defaultdict(list)
        for key, finding in current.items():
            if key not in nxt:
                unmatched[(finding.code, finding.model_id, finding.path, subject(finding))].append(
                    key
                )
        for key, instance in sorted(live.items(), key=lambda item: item[1].findings[-1].row):
            group = unmatched.get(
                (instance.code, instance.model_id, instance.path, subject(instance.findings[-1]))
            )
            folder = _folder(instance)
            if group:
                nxt[group.pop(0)] = instance
            elif (
                folders
                and not instance.asleep
                and folder.startswith("models/")
                and (folder not in folders[index])
            ):
                instance.asleep = True
                nxt[key] = instance
            else:
                done.append(instance)
        for key, finding in current.items():
            if key not in nxt:
                nxt[key] = Instance(
                    finding.code, finding.rule, finding.model_id, finding.path, index
                )
            nxt[key].findings.append(finding)
            nxt[key].end, nxt[key].asleep = index, False
        live = nxt
    return done + list(live.values())


def _folder(instance: Instance) -> str:
    if instance.model_id and instance.path.startswith(f"models/{instance.model_id}/"):
        return f"models/{instance.model_id}"
    return instance.path.rsplit("/", 1)[0] if "/" in instance.path else ""


_CITED_FILE = re.compile(rf"\b{PACKAGE}/([\w./-]+?\.(?:py|txt|ya?ml))\b")
_CITED_MODEL_REQUIREMENTS = re.compile(r"\bmodel (\w+) \(requirements\.txt")
_NAMED_FILE = re.compile(r"(?<![\w/.])([\w-]+\.(?:py|txt|ya?ml))\b")


def related_paths(instance: Instance) -> list[str]:
    """The flagged file, then the files its messages cite: a base class in _shared/, the
    global requirements, the requirements of the model a pin conflicts with, a sibling file
    named as the alternative fix (`App` exported from __init__.py)."""
    paths = [instance.path]
    folder = _folder(instance)
    for message in {instance.findings[0].message, instance.findings[-1].message}:
        paths += _CITED_FILE.findall(message)
        paths += [f"{folder}/{name}" for name in _NAMED_FILE.findall(message) if folder]
        paths += [
            f"models/{m}/requirements.txt" for m in _CITED_MODEL_REQUIREMENTS.findall(message)
        ]
        if "global_requirements.txt" in message:
            paths.append("global_requirements.txt")
    return list(dict.fromkeys(paths))


def outcome(instance: Instance, before: Tree, after: Tree) -> str:
    """Why the finding is absent from ``after`` though present in ``before``."""
    folder = _folder(instance)
    if folder and not any(path.startswith(folder + "/") for path in after):
        return "gone-folder"
    if after.get(instance.path) is None and before.get(instance.path) is not None:
        return "gone-file"
    # A missing file that appears (QAI101) counts as changed: None -> blob.
    changed = any(before.get(p) != after.get(p) for p in related_paths(instance))
    return "confirmed" if changed else "gone-unchanged"


def folder_states(tree: Tree) -> dict[str, int]:
    """A digest of each folder's files (models/<id> as a whole, other files by directory)."""
    groups: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for path, blob in tree.items():
        parts = path.split("/")
        groups["/".join(parts[:2]) if parts[0] == "models" else "/".join(parts[:-1])].append(
            (path, blob)
        )
    return {folder: hash(frozenset(files)) for folder, files in groups.items()}


def classify(instances: Sequence[Instance], trees: Sequence[Tree]) -> None:
    last = len(trees) - 1
    states = [folder_states(tree) for tree in trees]
    for instance in instances:
        lived = range(instance.start, instance.end + 1)
        blobs: set[object] = {
            trees[i].get(instance.path) for i in lived if instance.path in trees[i]
        }
        if not blobs:  # a missing file: did the folder around it keep changing?
            blobs = {states[i].get(_folder(instance)) for i in lived}
        instance.contents = len(blobs)
        instance.long_lived = len(instance.findings) >= LONG_LIVED_TAGS and instance.contents >= 2
        if instance.end < last:
            instance.outcome = outcome(instance, trees[instance.end], trees[instance.end + 1])


def summarize(instances: Sequence[Instance]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for instance in instances:
        row = table.setdefault(instance.code, {"slug": instance.rule, **dict.fromkeys(COLUMNS, 0)})
        row[instance.outcome] += 1
        row["long-lived"] += instance.long_lived
        row["new"] += instance.start > 0
        row["total"] += 1
    return dict(sorted(table.items()))


def changed_nearby(
    instance: Instance, before: Tree, after: Tree, imported: Sequence[str] = ()
) -> list[str]:
    """Files of the finding's folder, then of the code it imports (``imported``: folders such
    as models/_shared/x/), that changed (+ added, - removed, ~ edited) when the finding
    vanished: where to look for what made it go."""
    folder = _folder(instance) + "/"
    marks = []
    for scope in (folder, *imported):
        paths = sorted(p for p in {*before, *after} if p.startswith(scope))
        changed = [p for p in paths if before.get(p) != after.get(p)]
        for path in changed[:6]:
            mark = "+" if path not in before else "-" if path not in after else "~"
            marks.append(mark + (path[len(folder) :] if scope == folder else path))
        if len(changed) > 6:
            marks.append(f"(+{len(changed) - 6} more in {scope})")
    return marks


# ---------------------------------------------------------------- linting


def linter_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((CHECKOUT / "qaihm_lint").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(CHECKOUT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def lint(root: Path, cached: Path) -> dict[str, Any]:
    """Raw JSON findings, exit status and stderr of one run on ``root`` (cached per tag)."""
    if cached.exists():
        return dict(json.loads(cached.read_text()))
    command = [sys.executable, "-m", "qaihm_lint", "--no-cache", "--output-format", "json",
               "--exit-zero", "--jobs", "1", str(root)]  # fmt: skip
    # cwd=CHECKOUT puts this checkout's qaihm_lint first on sys.path, whatever is installed.
    done = subprocess.run(command, cwd=CHECKOUT, capture_output=True, text=True)
    try:
        raw = json.loads(done.stdout) if done.stdout.strip() else []
    except json.JSONDecodeError:
        raw = []
    result = {"returncode": done.returncode, "stderr": done.stderr[-4000:], "findings": raw}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result))
    return result


def parse(raw: Sequence[Mapping[str, Any]], root: Path) -> list[Finding]:
    findings = []
    for item in raw:
        path = Path(item["filename"])
        try:
            relative = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            relative = path.as_posix()
        findings.append(Finding(item["code"], item["rule"], item.get("model_id"), relative,
                                int(item["location"]["row"]), item["message"],
                                item.get("severity", "error")))  # fmt: skip
    return findings


def crash_of(result: Mapping[str, Any]) -> str | None:
    internal = [f["message"] for f in result["findings"] if f["code"] == "QAI002"]
    if result["returncode"] != 0 or "Traceback" in result["stderr"] or internal:
        lines = result["stderr"].strip().splitlines()[-1:] + internal[:3]
        return f"exit {result['returncode']}: " + " | ".join(lines)
    return None


def pick_change(diff: str, row: int, package: str | None = None, flagged: str = "") -> str:
    """One line of a ``git diff -U0``: the hunk that removes the flagged line (``flagged``, its
    stripped text) or, for requirements, touches the ``package``; else the one nearest ``row``."""
    hunks: list[tuple[int, list[str]]] = []
    for line in diff.splitlines():
        header = re.match(r"@@ -(\d+)(?:,(\d+))? ", line)
        if header:
            hunks.append((int(header.group(1)), []))
        elif hunks and line[:1] in "+-" and not line.startswith(("+++", "---")):
            hunks[-1][1].append(line)

    def wanted(line: str) -> bool:
        name = re.sub(r"[-_.]+", "-", line[1:].strip().lower())
        if package is not None:
            return re.match(rf"{re.escape(package)}(?![a-z0-9-])", name) is not None
        return bool(flagged) and line[0] == "-" and line[1:].strip() == flagged

    named = [(start, [x for x in lines if wanted(x)]) for start, lines in hunks]
    if package is None:  # keep the hunk's added lines: they show what replaced the flagged one
        pairs = zip(named, hunks, strict=True)
        named = [
            (at, found + [x for x in new if x[0] == "+"])
            for (at, found), (_, new) in pairs
            if found
        ]
    named = [(start, lines) for start, lines in named if lines]
    if not (named or hunks):
        return ""
    start, lines = min(named or hunks, key=lambda h: abs(h[0] - row))
    removed = next((x[1:].strip() for x in lines if x[0] == "-"), None)
    added = next((x[1:].strip() for x in lines if x[0] == "+"), None)
    parts = [f"-{removed}" if removed is not None else "", f"+{added}" if added is not None else ""]
    return (f"L{start}: " + " => ".join(p for p in parts if p))[:160]


def imported_folders(snapshot: Snapshot, folder: str) -> list[str]:
    """Other folders of the package (models/_shared/x/, models/y/, utils/) that the
    folder's modules import in ``snapshot``."""
    found: set[str] = set()
    for source in (snapshot.root / folder).glob("*.py"):
        text = source.read_text(errors="replace")
        pattern = rf"\b{PACKAGE}\.(models\._shared\.\w+|models\.\w+|utils)\b"
        found.update(module.replace(".", "/") + "/" for module in re.findall(pattern, text))
    found.discard(folder + "/")
    return sorted(found, key=lambda scope: (scope == "utils/", scope))  # utils/: broad, last


def flagged_line(snapshot: Snapshot, path: str, row: int) -> str:
    lines = (snapshot.text(path) or "").splitlines()
    return lines[row - 1].strip() if 0 < row <= len(lines) else ""


# ---------------------------------------------------------------- running and reporting


def clone() -> Path:
    target = CACHE / "ai-hub-models.git"
    if not (target / "HEAD").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["git", "clone", "--quiet", "--bare", UPSTREAM, str(target)],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise SystemExit(f"history: cannot clone {UPSTREAM} ({last}); pass --repo GITDIR")
    return target


def snapshots(source: str, repo: Path | None, versions: Sequence[str]) -> list[Snapshot]:
    if source == "wheels":
        names = list(versions) or published_versions()
        return [wheel_snapshot(v) for v in names]
    repo = repo if repo else clone()
    if not (repo / "HEAD").exists() and not (repo / ".git").exists():
        raise SystemExit(f"history: {repo} is not a git repository")
    tags = release_tags(repo)
    if versions:
        tags = [t for t in tags if t.removeprefix("v") in versions]
    if not tags:
        raise SystemExit(f"history: no release tags in {repo}")
    return [tag_snapshot(repo, tag) for tag in tags]


def lint_all(
    releases: Sequence[Snapshot], workers: int
) -> tuple[list[list[Finding]], dict[str, str]]:
    """Every release linted (cached per linter digest), and the crashes by release."""
    HISTORY.mkdir(parents=True, exist_ok=True)
    # An empty [tool.qaihm-lint] table stops config discovery here, away from this checkout's.
    (HISTORY / "pyproject.toml").write_text("[tool.qaihm-lint]\n")
    results_dir = HISTORY / "results" / linter_digest()

    def one(snapshot: Snapshot) -> tuple[list[Finding], str | None]:
        kind = "tags" if snapshot.name.startswith("v") else "wheels"
        result = lint(snapshot.root, results_dir / kind / f"{snapshot.name}.json")
        return parse(result["findings"], snapshot.root), crash_of(result)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = list(pool.map(one, releases))
    crashes = {s.name: out[1] for s, out in zip(releases, outputs, strict=True) if out[1]}
    return [out[0] for out in outputs], crashes


def run(releases: Sequence[Snapshot], per_release: Sequence[Sequence[Finding]]) -> list[Instance]:
    trees = [s.tree for s in releases]
    folders = [{"/".join(p.split("/")[:2]) for p in t if p.startswith("models/")} for t in trees]
    instances = follow(per_release, folders)
    classify(instances, trees)
    for inst in instances:
        if inst.outcome == "confirmed":
            before, after = releases[inst.end], releases[inst.end + 1]
            path = next(p for p in related_paths(inst) if before.tree.get(p) != after.tree.get(p))
            cited = re.search(rf"{re.escape(path)}:(\d+)", inst.findings[-1].message)
            row = inst.findings[-1].row if path == inst.path else 1
            row = int(cited.group(1)) if cited else row
            where = "" if path == inst.path else f"{path} "
            package = subject(inst.findings[-1]) if inst.code.startswith("QAI3") else None
            text = flagged_line(before, path, row)
            change = diff(before, after, path)
            inst.excerpt = where + (
                pick_change(change, row, package, text) if path in before.tree else "file added"
            )
        elif inst.outcome == "gone-unchanged":
            imported = imported_folders(releases[inst.end], _folder(inst))
            nearby = changed_nearby(inst, trees[inst.end], trees[inst.end + 1], imported)
            inst.excerpt = "changed: " + (" ".join(nearby) or "nothing in folder or shared code")
    return instances


def counts_per_release(
    releases: Sequence[Snapshot], per_release: Sequence[Sequence[Finding]]
) -> list[dict[str, Any]]:
    """Default errors and warnings per code in each release: the table a jump shows up in."""
    rows = []
    for snapshot, findings in zip(releases, per_release, strict=True):
        errors = Counter(f.code for f in findings if f.severity == "error")
        warnings = Counter(f.code for f in findings if f.severity != "error")
        models = sum(1 for p in snapshot.tree if p.startswith("models/") and p.count("/") == 2
                     and p.endswith("/__init__.py") and not p.startswith("models/_"))  # fmt: skip
        rows.append({"release": snapshot.name, "models": models, "errors": dict(errors),
                     "warnings": dict(warnings)})  # fmt: skip
    return rows


def release_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown: one row per release, errors per code then warnings per code (``w``)."""
    codes = sorted({c for r in rows for c in r["errors"]})
    wcodes = sorted({c for r in rows for c in r["warnings"]})
    header = ["release", "models", "errors", *codes, "warnings", *(f"{c} (w)" for c in wcodes)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["release"], str(r["models"]), str(sum(r["errors"].values()))]
        cells += [str(r["errors"].get(c, "")) for c in codes]
        cells += [str(sum(r["warnings"].values()))]
        cells += [str(r["warnings"].get(c, "")) for c in wcodes]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def table_lines(table: Mapping[str, Mapping[str, Any]], markdown: bool) -> list[str]:
    header = ["code", "slug", *COLUMNS]
    rows = [[code, row["slug"], *(str(row[c]) for c in COLUMNS)] for code, row in table.items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]


def describe(inst: Instance, tags: Sequence[str]) -> dict[str, Any]:
    last = inst.findings[-1]
    return {
        "code": inst.code, "rule": inst.rule, "model_id": inst.model_id, "path": inst.path,
        "first_tag": tags[inst.start], "last_tag": tags[inst.end], "tags": len(inst.findings),
        "outcome": inst.outcome,
        "gone_at": tags[inst.end + 1] if inst.end + 1 < len(tags) else None,
        "long_lived": inst.long_lived, "file_versions": inst.contents, "excerpt": inst.excerpt,
        "severity": last.severity, "row": last.row, "message": last.message,
        "first_message": inst.findings[0].message,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        choices=("tags", "wheels"),
        default="tags",
        help="upstream's git tags (default) or the wheels published on PyPI",
    )
    parser.add_argument("--repo", type=Path, help="git dir of quic/ai-hub-models (default: clone)")
    parser.add_argument(
        "--versions", nargs="*", default=[], metavar="V", help="only these releases (default: all)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="releases linted at once (default 2)"
    )
    parser.add_argument("--details", metavar="CODE", action="append", default=[])
    parser.add_argument("--json", type=Path, metavar="OUT", help="write everything as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--per-release",
        action="store_true",
        help="print default errors and warnings per code in each release",
    )
    args = parser.parse_args(argv)  # fmt: skip
    began = time.perf_counter()
    releases = snapshots(args.source, args.repo, args.versions)
    names = [s.name for s in releases]
    per_release, crashes = lint_all(releases, max(1, args.workers))
    instances = run(releases, per_release)
    table = summarize(instances)
    print(f"{len(names)} releases ({names[0]} .. {names[-1]}), {len(instances)} findings followed")
    print("\n".join(table_lines(table, args.markdown)))
    rows = counts_per_release(releases, per_release)
    if args.per_release:
        print("\n" + "\n".join(release_table(rows)))
    for name, crash in crashes.items():
        print(f"CRASH {name}: {crash}")
    described = [describe(i, names) for i in instances]
    for code in args.details:
        print(f"\n{code}:")
        chosen = [d for d in described if d["code"] == code.upper()]
        for d in sorted(chosen, key=lambda d: (d["model_id"] or "", d["path"], d["first_tag"])):
            flag = " long-lived" if d["long_lived"] else ""
            gone = f" @{d['gone_at']}" if d["gone_at"] else ""
            print(f"  {d['model_id']} {d['path']} {d['first_tag']}..{d['last_tag']} "
                  f"({d['tags']} releases, {d['file_versions']} versions){flag} "
                  f"{d['outcome']}{gone} {d['excerpt']}\n    {d['message'][:150]}")  # fmt: skip
    if args.json:
        new_per_tag = Counter(i.start for i in instances if i.start > 0)
        args.json.write_text(json.dumps({
            "releases": names, "summary": table, "crashes": crashes, "per_release": rows,
            "new_per_release": {names[k]: v for k, v in sorted(new_per_tag.items())},
            "instances": described,
        }, indent=1))  # fmt: skip
    print(f"runtime {time.perf_counter() - began:.1f}s", file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
