"""What a model raised, told as one paragraph a model author can act on.

Worker side: standard library only. ``Explainer`` knows the checked tree (to name the model's
own line) and the worker's limits (to name the one that was hit); the functions below classify
an exception by its whole chain of causes.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from pathlib import Path

from .records import out_of_memory

_URL = re.compile(r"https?://[^\s'\"<>)\]]+")
_NETWORK_NAMES = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "URLError",
    "HTTPError",
    "gaierror",
    "MaxRetryError",
    "NewConnectionError",
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
    "socket.timeout",
)
_NETWORK_WORDS = (
    "name resolution",
    "network is unreachable",
    "connection refused",
    "failed to establish a new connection",
    "max retries exceeded",
    "nodename nor servname",
    "temporary failure",
    "could not resolve host",
    "urlopen error",
    "couldn't connect",
    "could not connect",
    "offline mode",
)
# A library's own words for "the file is neither cached nor downloadable" (transformers,
# huggingface_hub, timm): often raised without the network error that caused it.
_MISSING_ASSET_WORDS = (
    "can't load",
    "couldn't find",
    "could not find",
    "does not appear to have a file named",
    "not found in the cache",
    "cannot find the requested files",
    "is not the path to a directory containing",
)
_MISSING_ASSET_NAMES = ("LocalEntryNotFoundError", "EntryNotFoundError", "OfflineModeIsEnabled")


_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _dist_key(name: str) -> str:
    """A module or distribution name, compared the way PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Explainer:
    """Describes failures of the model ``model_id`` in the tree at ``repo_root``."""

    repo_root: Path
    model_id: str
    memory_limit_mb: int | None

    def describe(self, stage: str, exc: BaseException) -> str:
        """One paragraph: what the model raised, where, and what to do about it."""
        where = self.location(exc)
        raised = one_line(exc)
        if isinstance(exc, SyntaxError) and exc.filename:
            # The error is in the file being compiled, which no traceback frame shows.
            where = f"{self.relative(exc.filename) or exc.filename}:{exc.lineno}:{exc.offset}"
            raised = f"{type(exc).__name__}: {exc.msg}"
        text = f"{raised}{f' (at {where})' if where else ''}"
        if "Tracer cannot infer type" in str(exc):
            return (
                f"{text}. torch.jit.trace takes tensors and tuples of tensors only: make "
                "forward() return a flat tuple of tensors, one per get_output_names() entry."
            )
        if is_cuda_error(exc):
            return (
                f"{text}. The model needs a GPU, but deep workers run with CUDA hidden "
                '(CUDA_VISIBLE_DEVICES=""): models must run on CPU. Pick the device with '
                '`"cuda" if torch.cuda.is_available() else "cpu"` instead of .cuda()/"cuda".'
            )
        if is_memory_error(exc):
            return f"{text}. {out_of_memory(self.memory_limit_mb)}"
        network = network_url(exc)
        if network is not None:
            url = f" {network}" if network else ""
            return (
                f"{text}. This is a network error: fetching{url} failed. Deep mode downloads "
                "nothing itself; run it where the model's assets are reachable or already cached."
            )
        if isinstance(exc, EOFError):
            return (
                f"{text}. The model waited for an answer on stdin, which deep workers do not "
                "have: it asked a question (typically whether to download or clone something). "
                "Loading must work non-interactively."
            )
        if is_missing_library(exc):
            return (
                f"{text}. A system library is missing from this machine, not from the model: "
                "install it with the system's package manager (upstream's CI installs "
                "libportaudio2, ffmpeg, libegl-dev, cmake and mecab)."
            )
        if isinstance(exc, FileNotFoundError):
            missing = exc.filename or ""
            return f"{text}. A model asset is missing{f': {missing}' if missing else ''}."
        if is_missing_asset(exc):
            return (
                f"{text}. The library found no local copy of a file it needed and reports no "
                "download error of its own: typically the weights or configuration could not "
                "be fetched (no network) and are not in its cache. Run it where they are "
                "reachable or already cached; this verdict is not cached."
            )
        if isinstance(exc, ModuleNotFoundError) and stage == "import":
            return f"{text}. {self.missing_module_hint(exc, where)}"
        return text

    def missing_module_hint(self, exc: ModuleNotFoundError, where: str) -> str:
        folder = f"qai_hub_models/models/{self.model_id}/"
        requirements = self.repo_root / folder / "requirements.txt"
        model_hint = f"pip install -r {requirements}" if requirements.is_file() else ""
        importer = where.rsplit(":", 1)[0]
        top = (exc.name or "").split(".")[0]
        declared = self.package_declares(top)
        in_model_folder = importer.startswith(folder)
        if declared and not in_model_folder:
            # A dependency the package itself declares (pydantic, imported by models/common.py):
            # this interpreter lacks the package's own dependencies, whatever the model lists.
            return (
                f"{exc.name!r} is a dependency of qai_hub_models itself ({declared} lists it), "
                "not of this model: install the package's own dependencies into this "
                f"interpreter ({self.package_hint()}, or --python an environment that has them)."
            )
        parts = importer.split("/")
        if importer.startswith("qai_hub_models/models/") and len(parts) > 3 and not in_model_folder:
            # Shared model code (models/_shared/, another model's folder) has no requirements
            # of its own: each model folder that uses it lists what it imports.
            then = f", then {model_hint}" if model_hint else ""
            return (
                f"{exc.name!r} is imported by {importer}, shared code that this model uses: "
                f"list it in {folder}requirements.txt{then}."
            )
        if where and not in_model_folder:
            # Raised by the package's own code: the model's requirements will not help alone.
            also = f", then {model_hint}" if model_hint else ""
            return (
                f"{exc.name!r} is needed by qai_hub_models itself, not only this model: install "
                f"the package's own dependencies into this interpreter ({self.package_hint()}, "
                f"or --python an environment that has them){also}."
            )
        hint = model_hint or f"install the package that provides {exc.name!r}"
        return f"A dependency of the model is missing from this environment: {hint}."

    def package_declares(self, module: str) -> str:
        """Which of the package's own dependency lists names ``module`` ('' when none): its
        requirements.txt, or the Requires-Dist of a wheel's METADATA beside it."""
        wanted = _dist_key(module)
        if not wanted:
            return ""
        lists = [self.repo_root / "qai_hub_models" / "requirements.txt"]
        lists += sorted(self.repo_root.glob("qai_hub_models-*.dist-info/METADATA"))
        for path in lists:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                line = line.removeprefix("Requires-Dist:").strip()
                if line.startswith(("#", "-")) or "extra ==" in line:
                    continue
                match = _REQUIREMENT_NAME.match(line)
                if match and _dist_key(match.group(0)) == wanted:
                    return self.relative(str(path)) or str(path)
        return ""

    def package_hint(self) -> str:
        # Only a source checkout installs with -e; an unpacked wheel has just its requirements.
        if any((self.repo_root / name).is_file() for name in ("pyproject.toml", "setup.py")):
            return f"pip install -e {self.repo_root}"
        requirements = self.repo_root / "qai_hub_models" / "requirements.txt"
        if requirements.is_file():
            return f"pip install -r {requirements}"
        return "pip install the qai-hub-models release this tree comes from"

    def relative(self, filename: str) -> str:
        """``filename`` relative to the checked tree's root, or '' when outside it."""
        try:
            return Path(filename).resolve().relative_to(self.repo_root).as_posix()
        except (ValueError, OSError):
            return ""

    def frame_of(self, exc: BaseException | None) -> str | None:
        """Where in the checked tree ``exc`` was raised ("path:line[:col]"), or None."""
        if exc is None:
            return None
        if isinstance(exc, SyntaxError) and exc.filename:
            relative = self.relative(exc.filename)
            return f"{relative}:{exc.lineno or 1}:{exc.offset or 1}" if relative else None
        return self.location(exc) or None

    def location(self, exc: BaseException) -> str:
        """The innermost traceback frame inside the checked tree, relative to its root."""
        found = ""
        for frame in traceback.extract_tb(exc.__traceback__):
            relative = self.relative(frame.filename)
            if relative:
                found = f"{relative}:{frame.lineno}"
        return found


def one_line(exc: BaseException) -> str:
    """The exception as one line: its cause first, tensor values left out."""
    text, collapsed = _without_tensor_values(str(exc).strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if collapsed and len(lines) > 1:
        # torch prints the offending value first and the reason after it, on a line of its
        # own (often starting with ":"): the reason leads, the value follows in brackets.
        reason = " ".join(lines[1:]).lstrip(": ")
        first = f"{reason} ({lines[0]})"
    else:
        first = lines[0] if lines else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _without_tensor_values(text: str) -> tuple[str, bool]:
    """``text`` with every ``tensor(...)`` repr shortened to ``tensor(...)``; whether any was."""
    out: list[str] = []
    position = 0
    collapsed = False
    while True:
        start = text.find("tensor(", position)
        if start < 0:
            out.append(text[position:])
            break
        depth = 0
        end = start + len("tensor")
        while end < len(text):
            if text[end] in "([{":
                depth += 1
            elif text[end] in ")]}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        out.append(text[position:start] + "tensor(...)")
        collapsed = True
        position = end + 1
    return "".join(out), collapsed


def short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def cause_of(exc: BaseException) -> str | None:
    """Whether a failure says more about the environment or the moment than about the model's
    code (the parent never caches those): a missing module, the network, the memory cap."""
    if is_memory_error(exc):
        return "memory"
    if network_url(exc) is not None:
        return "network"
    if any(isinstance(item, ModuleNotFoundError) for item in _chain(exc)):
        return "missing-module"
    if is_missing_library(exc):
        return "environment"
    if is_missing_asset(exc):
        return "missing-asset"
    return None


def is_missing_asset(exc: BaseException) -> bool:
    """A file the model loads is neither present nor fetched: it may be there next time."""
    for item in _chain(exc):
        if isinstance(item, FileNotFoundError) or type(item).__name__ in _MISSING_ASSET_NAMES:
            return True
        text = str(item).lower()
        if isinstance(item, OSError) and any(word in text for word in _MISSING_ASSET_WORDS):
            return True
    return False


def is_missing_library(exc: BaseException) -> bool:
    """A native library the machine lacks (sounddevice without PortAudio, cv2 without libGL)."""
    for item in _chain(exc):
        text = str(item)
        if isinstance(item, OSError | ImportError) and (
            "library not found" in text
            or "cannot open shared object file" in text
            or "Library not loaded" in text
        ):
            return True
    return False


def is_missing_argument(exc: TypeError) -> bool:
    text = str(exc)
    return "required positional argument" in text or "required keyword-only argument" in text


def is_cuda_error(exc: BaseException) -> bool:
    for item in _chain(exc):
        text = str(item)
        if "CUDA" in text or "NVIDIA driver" in text or "compiled with CUDA" in text:
            return True
    return False


def is_memory_error(exc: BaseException) -> bool:
    for item in _chain(exc):
        if isinstance(item, MemoryError):
            return True
        text = str(item)
        if "can't allocate memory" in text or "DefaultCPUAllocator" in text or "bad_alloc" in text:
            return True
    return False


def network_url(exc: BaseException) -> str | None:
    """The URL a network failure was fetching ('' when unknown); None: not a network error."""
    is_network = False
    url = ""
    for item in _chain(exc):
        name = type(item).__name__
        text = str(item)
        if (
            name in _NETWORK_NAMES
            or isinstance(item, (ConnectionError, TimeoutError))
            or any(word in text.lower() for word in _NETWORK_WORDS)
        ):
            is_network = True
        candidate = getattr(item, "url", None) or getattr(
            getattr(item, "request", None), "url", None
        )
        if not url and isinstance(candidate, str) and candidate.startswith("http"):
            url = candidate
        if not url:
            match = _URL.search(text)
            if match:
                url = match.group(0).rstrip(".,;:")
        if not url:
            url = _url_in_frames(item)
    return url if is_network else None


def _url_in_frames(exc: BaseException) -> str:
    """The URL the failing code was fetching, from the traceback's frames (innermost first):
    urllib's URLError does not carry it, but torch.hub's and requests' frames hold it in a
    local (``url``, or a request object's ``full_url``/``url``)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        try:
            local = frame.f_locals
        except Exception:  # a frame torn down, or an odd f_locals proxy
            continue
        for name in ("url", "full_url", "req", "request"):
            value = local.get(name)
            if not isinstance(value, str):
                value = getattr(value, "full_url", None) or getattr(value, "url", None)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                return value
    return ""
