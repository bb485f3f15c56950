"""Requirements files read the way pip reads them, with ``packaging`` doing the PEP 508 work.

pip's rules, as far as a linter needs them: a line ending in a backslash continues on the next
one; ``#`` at the start of a line or after white space begins a comment; lines starting with
``-`` are options (``-r other.txt`` includes another file, ``--extra-index-url`` and friends
are not requirements); a line that is a URL (``git+https://…@<ref>#egg=name``) is a direct
reference; anything else is a PEP 508 requirement, optionally followed by per-requirement
options (``--hash=…``). Names compare by PEP 503 normalisation.

Each file is parsed once per run: the result is kept in ``SourceFile.memo``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from qaihm_lint.diagnostics import Location
from qaihm_lint.sources import SourceError, SourceFile, file_at
from qaihm_lint.specifiers import intersects, pinned_version

# A requirement line longer than this is not something a person wrote; it is refused with a
# clear reason instead of being handed to the parser.
MAX_LINE_CHARS = 4096
# Real requirements files are a few hundred bytes; past this one is data, not a pin list.
MAX_FILE_BYTES = 1_000_000
# Nested ``-r`` includes deeper than this are refused (a cycle is reported before that).
MAX_INCLUDE_DEPTH = 16

_COMMENT = re.compile(r"(^|\s+)#.*$")
_FULL_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*")
# Per-requirement options pip accepts after a requirement on the same line.
_PER_REQUIREMENT_OPTION = re.compile(r"\s--?(hash|global-option|config-settings|install-option)\b")
# Any other option written after a requirement on its line ("<url> -f <index>").
_TRAILING_OPTION = re.compile(r"\s-[-A-Za-z]")

# pip's requirements-file options (pip/_internal/req/req_file.py), by spelling: takes a value?
_OPTIONS: dict[str, bool] = {
    "-r": True,
    "--requirement": True,
    "-c": True,
    "--constraint": True,
    "-e": True,
    "--editable": True,
    "-i": True,
    "--index-url": True,
    "--extra-index-url": True,
    "--no-index": False,
    "-f": True,
    "--find-links": True,
    "--no-binary": True,
    "--only-binary": True,
    "--prefer-binary": False,
    "--require-hashes": False,
    "--pre": False,
    "--trusted-host": True,
    "--use-feature": True,
}


def normalize(name: str) -> str:
    """PEP 503: ``Pillow`` = ``pillow``, ``ruamel_yaml`` = ``ruamel.yaml`` = ``ruamel-yaml``."""
    return canonicalize_name(name)


@dataclass
class RequirementLine:
    """One logical line of a requirements file that names a requirement, an option or nothing
    valid (``error`` set)."""

    source: SourceFile
    row: int  # first physical row (1-based)
    end_row: int  # last physical row (continuations)
    text: str  # the logical line, comments and per-requirement options removed, stripped
    comment: str = ""  # the comment on the line, "" when none
    requirement: Requirement | None = None
    error: str | None = None
    option: str | None = None  # "-r", "--extra-index-url", ...
    option_value: str | None = None
    # Direct references: the URL, and for VCS URLs the ref after '@' (None when absent).
    url: str | None = None
    vcs_ref: str | None = None
    # An environment marker written after an option on the same line (``<url> -f <index>;
    # <marker>``): pip reads it as the option's argument, so the requirement applies everywhere.
    swallowed_marker: str | None = None
    trailing_option: str | None = None

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def name(self) -> str | None:
        return normalize(self.requirement.name) if self.requirement is not None else None

    @property
    def specifier(self) -> SpecifierSet:
        return self.requirement.specifier if self.requirement is not None else SpecifierSet()

    @property
    def marker(self) -> Marker | None:
        return self.requirement.marker if self.requirement is not None else None

    @property
    def is_requirement(self) -> bool:
        return self.requirement is not None

    @property
    def is_vcs(self) -> bool:
        return self.url is not None and self.url.startswith(_VCS_SCHEMES)

    @property
    def pinned_version(self) -> str | None:
        """The exact version of an ``==V`` / ``===V`` pin (no wildcard), else None."""
        return pinned_version(self.specifier)

    @property
    def is_pinned(self) -> bool:
        """Pinned: ``==V``/``===V``; a VCS URL at a full 40-hex commit; an archive URL."""
        if self.requirement is None:
            return False
        if self.url is not None:
            if self.is_vcs:
                return self.vcs_ref is not None and bool(_FULL_SHA.match(self.vcs_ref))
            return True  # a file/archive URL names one artifact
        return self.pinned_version is not None

    @property
    def physical(self) -> str:
        return self.source.line(self.row)

    def location(self) -> Location:
        line = self.physical
        return Location(self.row, len(line) - len(line.lstrip()) + 1)

    def end_location(self) -> Location:
        line = self.source.line(self.end_row)
        body = _COMMENT.sub("", line).rstrip()
        return Location(self.end_row, max(len(body), 0) + 1)

    def display(self) -> str:
        return self.text


@dataclass
class RequirementsFile:
    source: SourceFile
    lines: list[RequirementLine] = field(default_factory=list)
    # A file-level problem (unreadable, binary, not UTF-8): no lines were parsed.
    error: SourceError | None = None

    def requirements(self) -> list[RequirementLine]:
        return [line for line in self.lines if line.requirement is not None]


def _logical_lines(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """(first row, last row, joined text) the way pip joins backslash continuations."""
    start: int | None = None
    parts: list[str] = []
    for index, line in enumerate(lines, start=1):
        is_comment = bool(re.match(r"^\s*#", line))
        if start is None:
            start = index
        if line.endswith("\\") and not is_comment:
            parts.append(line[:-1])
            continue
        parts.append(line)
        yield start, index, "".join(parts)
        start, parts = None, []
    if start is not None and parts:
        yield start, len(lines), "".join(parts)


def _split_comment(text: str) -> tuple[str, str]:
    match = _COMMENT.search(text)
    if match is None:
        return text, ""
    return text[: match.start()], text[match.start() :].strip()


def _vcs_ref(url: str) -> str | None:
    try:
        parts = urlsplit(url.split("+", 1)[1] if "+" in url.split("://", 1)[0] else url)
    except ValueError:
        return None
    path = parts.path
    if "@" not in path:
        return None
    return unquote(path.rsplit("@", 1)[1]) or None


def _egg_name(url: str) -> str | None:
    fragment = url.split("#", 1)[1] if "#" in url else ""
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "egg" and value:
            return value.split("[")[0]
    return None


def _parse_option(line: RequirementLine, body: str) -> None:
    head, _, rest = body.partition(" ")
    name, eq, attached = head.partition("=")
    value: str | None = attached if eq else rest.strip() or None
    if name not in _OPTIONS:
        # Short options may be glued to their value: "-rother.txt".
        if len(name) > 2 and name[:2] in _OPTIONS and not name.startswith("--"):
            value, name = name[2:], name[:2]
        else:
            line.error = f"`{name}` is not an option pip accepts in a requirements file"
            return
    line.option = name
    if _OPTIONS[name]:
        if not value:
            line.error = f"option `{name}` needs a value"
            return
        line.option_value = value
    if name in ("-e", "--editable") and value and _URL_START.match(value):
        _parse_url_requirement(line, value)  # an editable VCS URL is a requirement too


def _parse_url_requirement(line: RequirementLine, text: str) -> None:
    url, _, marker = text.partition(";")
    url = url.strip()
    marker = marker.strip()
    line.url = url
    if url.startswith(_VCS_SCHEMES):
        line.vcs_ref = _vcs_ref(url)
    egg = _egg_name(url)
    if egg is None:
        tail = url.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        # A wheel or sdist file name starts with the distribution name.
        candidate = re.split(r"-\d", tail, maxsplit=1)[0] if not line.is_vcs else ""
        if not candidate or not _NAME.fullmatch(candidate):
            line.error = "a URL requirement needs `#egg=<name>` so its package can be identified"
            return
        egg = candidate
    spelled = f"{egg} @ {url.split('#', 1)[0]}" + (f" ; {marker}" if marker else "")
    try:
        line.requirement = Requirement(spelled)
    except InvalidRequirement as exc:
        line.error = _reason(exc)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    # packaging's messages span lines with a caret diagram; the first line carries the reason.
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.rstrip(".")


def _parse_line(source: SourceFile, row: int, end_row: int, raw: str) -> RequirementLine | None:
    body, comment = _split_comment(raw)
    body = body.strip()
    if not body:
        return None
    line = RequirementLine(source, row, end_row, body, comment)
    if len(body) > MAX_LINE_CHARS:
        line.text = body[:80] + "…"
        line.error = f"the line is {len(body):,} characters long; not a requirement"
        return line
    if body.startswith("-"):
        _parse_option(line, body)
        return line
    # Per-requirement options ("foo==1 --hash=sha256:…") are not part of the requirement.
    option = _PER_REQUIREMENT_OPTION.search(body)
    if option is not None:
        body = body[: option.start()].rstrip()
        line.text = body
    else:
        # pip ends the requirement at the first word that starts with "-": whatever follows,
        # an environment marker included, is read as that option's arguments.
        trailing = _TRAILING_OPTION.search(body)
        if trailing is not None:
            options = body[trailing.start() :].strip()
            body = body[: trailing.start()].rstrip()
            line.text = body
            if ";" in options:
                line.swallowed_marker = options[options.index(";") + 1 :].strip()
                line.trailing_option = options.split()[0]
    if _URL_START.match(body) and " @ " not in body:
        _parse_url_requirement(line, body)
        return line
    try:
        line.requirement = Requirement(body)
    except InvalidRequirement as exc:
        # PEP 508 wants white space between a URL and its marker (";" may be part of a URL);
        # pip splits a URL requirement at "; " instead, so "name@<url>; marker" installs.
        head, sep, marker = body.partition("; ")
        try:
            if not sep or "://" not in head:
                raise exc
            line.requirement = Requirement(f"{head} ; {marker}")
        except InvalidRequirement:
            line.error = _reason(exc)
            return line
    if line.requirement.url:
        line.url = line.requirement.url
        if line.is_vcs:
            line.vcs_ref = _vcs_ref(line.requirement.url)
    return line


def parse_source(source: SourceFile) -> RequirementsFile:
    """Parse one requirements file (its ``-r`` includes are not followed here)."""
    cached = source.memo.get("requirements")
    if isinstance(cached, RequirementsFile):
        return cached
    result = RequirementsFile(source)
    try:
        if len(source.data) > MAX_FILE_BYTES:
            raise SourceError(f"is too large to check ({len(source.data):,} bytes)")
        lines = source.lines
    except SourceError as error:
        result.error = error
    else:
        for row, end_row, raw in _logical_lines(lines):
            parsed = _parse_line(source, row, end_row, raw)
            if parsed is not None:
                result.lines.append(parsed)
    source.memo["requirements"] = result
    return result


# ---------------------------------------------------------------------------------------------
# A model's requirement set: its requirements.txt with the files it includes.


@dataclass
class IncludeProblem:
    line: RequirementLine  # the ``-r`` line
    message: str


@dataclass
class RequirementSet:
    root: RequirementsFile
    files: list[RequirementsFile] = field(default_factory=list)
    problems: list[IncludeProblem] = field(default_factory=list)
    # Every line in the order pip reads them (an included file's lines at its ``-r`` line).
    ordered: list[RequirementLine] = field(default_factory=list)

    def requirements(self) -> list[RequirementLine]:
        return [line for line in self.ordered if line.requirement is not None]

    def invalid_lines(self) -> list[RequirementLine]:
        return [line for file in self.files for line in file.lines if line.error is not None]


Reader = Callable[[Path], SourceFile | None]


_default_reader: Reader = file_at


def load_set(
    source: SourceFile, boundary: Path, reader: Reader = _default_reader
) -> RequirementSet:
    """``source`` with every ``-r`` file it includes (recursively), staying inside ``boundary``.

    Cycles, missing files, files outside ``boundary`` and nesting beyond MAX_INCLUDE_DEPTH are
    problems on the including line, never an exception or a hang.
    """
    cached = source.memo.get("requirement_set")
    if isinstance(cached, RequirementSet):
        return cached
    root = parse_source(source)
    result = RequirementSet(root)
    seen: dict[Path, RequirementsFile] = {}

    def visit(file: RequirementsFile, stack: tuple[Path, ...]) -> None:
        result.files.append(file)
        seen[_key(file.source.path)] = file
        for line in file.lines:
            result.ordered.append(line)
            leaves = option_leaves(line, boundary)
            if leaves is not None:
                result.problems.append(IncludeProblem(line, leaves))
                continue
            if line.option not in ("-r", "--requirement") or line.option_value is None:
                continue
            target = (file.source.path.parent / line.option_value).resolve()
            if _key(target) in stack:
                chain = " -> ".join(p.name for p in (*stack, target))
                result.problems.append(
                    IncludeProblem(
                        line, f"`-r {line.option_value}` makes an include cycle ({chain})"
                    )
                )
                continue
            if _key(target) in seen:
                continue  # included twice (a diamond), read once
            if len(stack) >= MAX_INCLUDE_DEPTH:
                result.problems.append(
                    IncludeProblem(line, f"includes are nested more than {MAX_INCLUDE_DEPTH} deep")
                )
                continue
            if not _inside(target, boundary):
                result.problems.append(
                    IncludeProblem(
                        line, f"`-r {line.option_value}` points outside {boundary.name}/"
                    )
                )
                continue
            if target.is_dir():
                result.problems.append(
                    IncludeProblem(
                        line, f"`-r {line.option_value}` is a directory, not a requirements file"
                    )
                )
                continue
            included = reader(target)
            if included is None:
                result.problems.append(
                    IncludeProblem(line, f"`-r {line.option_value}`: no such file")
                )
                continue
            sub = parse_source(included)
            if sub.error is not None:
                result.problems.append(
                    IncludeProblem(line, f"`-r {line.option_value}`: the file {sub.error}")
                )
                continue
            visit(sub, (*stack, _key(target)))

    visit(root, (_key(source.path),))
    source.memo["requirement_set"] = result
    return result


# Options whose value is a file pip (or uv) reads.
FILE_OPTIONS = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable"})


def option_leaves(line: RequirementLine, boundary: Path) -> str | None:
    """Why ``line``'s option must never reach an installer: it names a file outside
    ``boundary`` or one that is not a regular file (``/proc/self/environ``, a FIFO, a device);
    None for every other line. A URL (an editable VCS requirement) is not a file."""
    if line.option not in FILE_OPTIONS or not line.option_value:
        return None
    return _file_option_problem(line.option, line.option_value, line.path.parent, boundary)


def _file_option_problem(option: str, value: str, base: Path, boundary: Path) -> str | None:
    if _URL_START.match(value):
        return None
    target = Path(os.path.expanduser(value))
    target = _key(target if target.is_absolute() else base / target)
    if not _inside(target, boundary):
        return f"`{option} {value}` points outside {boundary.name}/"
    if target.exists() and not (target.is_file() or target.is_dir()):
        return f"`{option} {value}` is not a regular file"
    if option in ("-c", "--constraint") and target.is_dir():
        return f"`{option} {value}` is a directory, not a constraints file"
    return None


def unsafe_pip_flags(flags: Sequence[str], base: Path, boundary: Path) -> list[str]:
    """Why words of a ``pip_install_flags`` value must never reach an installer: options that
    name a file outside ``boundary`` (or a special file) for pip to read. ``base`` is the
    folder relative paths start from."""
    problems: list[str] = []
    for index, word in enumerate(flags):
        name, eq, attached = word.partition("=")
        if name in FILE_OPTIONS:
            value = attached if eq else (flags[index + 1] if index + 1 < len(flags) else "")
        elif name[:2] in ("-c", "-r", "-e") and not name.startswith("--"):
            name, value = name[:2], name[2:]
        else:
            continue
        problem = _file_option_problem(name, value or ".", base, boundary)
        if problem is not None:
            problems.append(problem)
    return problems


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _inside(path: Path, boundary: Path) -> bool:
    try:
        path.relative_to(_key(boundary))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Where a requirement's version specifier sits in its line (for fixes that rewrite it).


def specifier_span(line: RequirementLine) -> tuple[int, int] | None:
    """0-based [start, end) character offsets of the version specifier in the physical line
    (an empty span right after the name when there is none); None when the requirement spans
    several physical lines or is a URL."""
    if line.row != line.end_row or line.url is not None or line.requirement is None:
        return None
    physical = line.physical
    match = _NAME.match(physical)
    if match is None:
        return None
    start = match.end(2) if match.group(2) else match.end(1)
    body, _comment = _split_comment(physical)
    stop = body.find(";", start)
    end = len(body) if stop == -1 else stop
    for pattern in (_PER_REQUIREMENT_OPTION, _TRAILING_OPTION):
        option = pattern.search(body, start)
        if option is not None and option.start() < end:
            end = option.start()
    while end > start and physical[end - 1].isspace():
        end -= 1
    return start, end


def specifier_text(line: RequirementLine) -> str:
    """The specifier as written (``>=1.8.1,<2``), or the normalised form when unavailable."""
    span = specifier_span(line)
    if span is None:
        return str(line.specifier)
    return line.physical[span[0] : span[1]].strip()


# ``intersects`` is re-exported from qaihm_lint.specifiers (its home) for the callers that read
# a file and compare its versions through this module.
__all__ = [
    "IncludeProblem",
    "RequirementLine",
    "RequirementSet",
    "RequirementsFile",
    "intersects",
    "load_set",
    "normalize",
    "parse_source",
    "specifier_span",
    "specifier_text",
]
