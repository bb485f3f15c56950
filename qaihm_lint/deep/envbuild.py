"""Building the environments ``environments.py`` plans, with uv, once per key.

Layout of the store (``--env-dir``, default ``<user cache>/qaihm-lint/envs``)::

    <key>.lock           an exclusive lock held while the environment is built or checked
    <key>/venv/          the virtual environment (uv venv on the invoking interpreter)
    <key>/layer/         links to the invoking environment's torch, onnx, onnxruntime, ...
    <key>/requirements/  the files uv installed, as it read them
    <key>/ready.json     written last: an environment without it is rebuilt

The layered stack: the venv's site-packages holds a copy of each layered distribution's
.dist-info (its RECORD emptied, so an uninstall can never reach the user's files) and a .pth
file that appends ``layer/`` to sys.path. uv then sees torch as installed at the user's
version, keeps it (the pins are constraints), and installs only what is missing; Python finds
the code through ``layer/``. A CPU torch stays CPU, and nothing of it is downloaded again.

A failed resolve or install is an ``EnvFailure`` carrying uv's own message, trimmed; the runner
turns it into a finding for the models that need the environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.deep.base_env import LAYERED, BaseInterpreter, LayeredDist
from qaihm_lint.deep.cache import environment_fingerprint
from qaihm_lint.deep.environments import EnvPlan, EnvSkip, EnvSpec
from qaihm_lint.deep.progress import Progress
from qaihm_lint.deep.sandbox import build_environment, scrub

BUILD_TIMEOUT = 3600.0  # the global environment of a real tree resolves ~150 packages
MAX_MESSAGE = 700
ENV_DIR_VARIABLE = "QAIHM_LINT_ENV_DIR"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# uv's words when the index is out of reach (connection, DNS, TLS, timeouts).
_UV_NETWORK = re.compile(
    r"error sending request|failed to fetch|dns error|connection refused|"
    r"network is unreachable|timed out|tcp connect error|client error \(connect\)",
    re.IGNORECASE,
)
_UV_SUMMARY = re.compile(r"^(Resolved|Prepared|Installed) (\d+) packages?\b")
_UV_NEXT = {
    "Resolved": "downloading",
    "Prepared": "installing",
    "Installed": "compiling bytecode",
}
# Each of these must import in a fresh environment before a model is run in it.
_VERIFY = (
    "import importlib, importlib.metadata as md\n"
    "for name in ('torch', 'onnx', 'onnxruntime', 'torchvision', 'torchaudio'):\n"
    "    try:\n"
    "        md.distribution(name)\n"
    "    except md.PackageNotFoundError:\n"
    "        continue\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except Exception as exc:\n"
    "        raise SystemExit(f'{name} {md.version(name)} does not import: "
    "{type(exc).__name__}: {exc}')\n"
)


class EnvFailure(Exception):
    """An environment could not be built; ``str(self)`` is one paragraph for the finding."""


class EnvSetupError(EnvFailure):
    """What the environment shares with the invoking one does not work in it: a set-up
    problem of this machine, not of a model (the run stops with exit 2)."""


@dataclass(frozen=True)
class BuiltEnv:
    spec: EnvSpec
    python: Path
    seconds: float  # what this call cost: the build, or the reuse check
    reused: bool


def default_env_dir() -> Path:
    configured = os.environ.get(ENV_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "qaihm-lint" / "envs"


def find_uv() -> str:
    try:
        from uv import find_uv_bin  # the [deep] extra's uv, when installed: optional

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise EnvFailure(
            "uv is not installed, so --deep cannot build the environments the models need: "
            "pip install 'qaihm-lint[deep]' (or pass --python an environment you built)"
        )
    return found


def trim(output: str) -> str:
    """uv's message without colours, hints or blank lines, at most MAX_MESSAGE characters."""
    lines = []
    for raw in _ANSI.sub("", output).splitlines():
        line = raw.strip().lstrip("\u00d7\u2570\u2500\u25b6\u2502 ").strip()  # uv's tree marks
        if not line or line.startswith(("hint:", "Using Python", "Resolved", "Prepared")):
            continue
        lines.append(line)
    text = " ".join(lines)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (other runs sharing the store)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            import fcntl  # POSIX only
        except ImportError:  # Windows: runs on one machine rarely share a store
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class EnvStore:
    """Builds and reuses environments under ``root``; safe across threads and processes."""

    def __init__(
        self,
        root: Path,
        base: BaseInterpreter,
        on_ready: Callable[[EnvSpec, BuiltEnv | EnvFailure], None] | None = None,
        on_step: Callable[[EnvSpec, str | None], None] | None = None,
    ) -> None:
        self.root = root
        self.base = base
        self.on_ready = on_ready  # called once per key, when first built, reused or failed
        self.on_step = on_step  # what a build is doing now; None when it has ended
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._done: dict[str, BuiltEnv | EnvFailure] = {}

    def _thread_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def ensure(self, spec: EnvSpec) -> BuiltEnv:
        """The environment of ``spec``, built if needed; EnvFailure when it cannot be."""
        with self._thread_lock(spec.key):
            known = self._done.get(spec.key)
            if known is None:
                try:
                    known = self._ensure(spec)
                except EnvFailure as exc:
                    known = exc
                self._done[spec.key] = known
                if self.on_ready is not None:
                    self.on_ready(spec, known)
            else:
                if isinstance(known, BuiltEnv):
                    known = BuiltEnv(known.spec, known.python, 0.0, True)
        if isinstance(known, EnvFailure):
            raise known
        return known

    def _ensure(self, spec: EnvSpec) -> BuiltEnv:
        started = time.monotonic()
        home = self.root / spec.key
        with _file_lock(self.root / f"{spec.key}.lock"):
            python = home / "venv" / "bin" / "python"
            if self._ready(spec, home, python):
                with contextlib.suppress(OSError):
                    os.utime(home / "ready.json")  # when it was last used, for pruning
                return BuiltEnv(spec, python, time.monotonic() - started, True)
            shutil.rmtree(home, ignore_errors=True)  # half-built by a run that died
            self._step(spec, "creating the virtual environment")
            try:
                self._build(spec, home, python)
            except EnvFailure:
                shutil.rmtree(home, ignore_errors=True)
                raise
            except (OSError, subprocess.SubprocessError) as exc:
                shutil.rmtree(home, ignore_errors=True)
                raise EnvFailure(f"building the environment failed: {exc}") from exc
            finally:
                self._step(spec, None)
            seconds = time.monotonic() - started
            record = {
                "spec": spec.name,
                "key": spec.key,
                "seconds": round(seconds, 1),
                # Checked before every reuse: an environment changed since is rebuilt.
                "fingerprint": environment_fingerprint(home / "venv"),
            }
            (home / "ready.json").write_text(json.dumps(record), encoding="utf-8")
            return BuiltEnv(spec, python, seconds, False)

    def _ready(self, spec: EnvSpec, home: Path, python: Path) -> bool:
        if not (home / "ready.json").is_file() or not python.exists():
            return False
        try:
            recorded = json.loads((home / "ready.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return False
        if not isinstance(recorded, dict) or recorded.get("fingerprint") != environment_fingerprint(
            home / "venv"
        ):
            return False  # changed since it was built (or built before fingerprints)
        # The layer must still reach the invoking environment's files.
        layer = home / "layer"
        return all((layer / e).exists() for dist in self._layered(spec) for e in dist.entries)

    def _layered(self, spec: EnvSpec) -> list[LayeredDist]:
        """The invoking environment's distributions ``spec``'s environment shares."""
        return [d for d in self.base.dists if spec.layered is None or d.name in spec.layered]

    # ------------------------------------------------------------------ the build

    def _run(
        self,
        command: Sequence[str],
        what: str,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``command``, its output read as it comes (``on_line`` sees each line)."""
        # Package builds run code the checked tree names: no secret in their environment.
        env = {**build_environment(os.environ), "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
        env.pop("VIRTUAL_ENV", None)  # uv must use --python, not the caller's activated venv
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            env=env,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(BUILD_TIMEOUT, expire)
        timer.daemon = True
        timer.start()
        output: list[str] = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                if on_line is not None:
                    on_line(line)
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if expired.is_set():
            raise EnvFailure(f"{what} took more than {BUILD_TIMEOUT:g} s")
        if returncode != 0:
            message = trim(scrub("".join(output), os.environ)) or f"exit status {returncode}"
            if _UV_NETWORK.search(message):
                # The index is out of reach: a matter of this machine, not of the models.
                raise EnvSetupError(
                    f"{what} failed because the package index cannot be reached: {message}"
                )
            raise EnvFailure(f"{what} failed: {message}")

    def _step(self, spec: EnvSpec, text: str | None) -> None:
        if self.on_step is not None:
            self.on_step(spec, text)

    def _uv_line(self, spec: EnvSpec) -> Callable[[str], None]:
        """uv's summary lines ("Resolved 148 packages in 3.2s") as the build's steps."""

        def seen(line: str) -> None:
            match = _UV_SUMMARY.match(_ANSI.sub("", line).strip())
            if match is not None:
                verb, count = match.group(1), match.group(2)
                self._step(spec, f"{verb.lower()} {count} package(s); {_UV_NEXT[verb]}")

        return seen

    def _build(self, spec: EnvSpec, home: Path, python: Path) -> None:
        uv = find_uv()
        home.mkdir(parents=True)
        venv = home / "venv"
        self._run(
            [uv, "venv", "--quiet", "--no-project", "--python", self.base.executable, str(venv)],
            "creating the virtual environment",
        )
        site = self._site_packages(python)
        layered = self._layered(spec)
        self._layer(home / "layer", site, layered)
        folder = home / "requirements"
        folder.mkdir()
        constraints = folder / "layered-constraints.txt"
        constraints.write_text(
            "".join(f"{dist.name}=={dist.version}\n" for dist in layered),
            encoding="utf-8",
        )
        # Bytecode now: workers run with PYTHONDONTWRITEBYTECODE (the checked tree must stay
        # clean), so without it every worker compiles transformers & co. from source again.
        install = [
            uv,
            "pip",
            "install",
            "--compile-bytecode",
            "--python",
            str(python),
            "-c",
            str(constraints),
        ]
        if spec.pre_build:
            self._step(spec, "installing pip_pre_build_reqs")
            self._run([*install, *spec.pre_build], "installing pip_pre_build_reqs")
        arguments = ["-r", str(constraints)]  # the layered packages' own dependencies
        for index, file in enumerate(spec.files):
            path = folder / f"{index}-{Path(file.label).name}"
            path.write_text(file.text, encoding="utf-8")
            arguments += ["-r", str(path)]
        self._step(spec, "resolving the requirements (uv)")
        self._run(
            [*install, *arguments, *spec.pip_flags],
            "installing the requirements",
            self._uv_line(spec),
        )
        self._step(spec, "checking that torch, onnx and onnxruntime import")
        try:
            self._run([str(python), "-c", _VERIFY], "checking the environment")
        except EnvFailure as exc:
            failing = next((name for name in LAYERED if f": {name} " in str(exc)), None)
            shared = [dist.name for dist in self._layered(spec)]
            if failing is None or failing not in shared:
                raise  # what the tree's files installed: the tree's environment is broken
            raise EnvSetupError(
                f"{exc}; {failing} is shared from the environment that runs qaihm-lint "
                f"({self.base.executable}): repair it there (torch and its companions from one "
                "build)"
            ) from exc

    def _site_packages(self, python: Path) -> Path:
        completed = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        return Path(completed.stdout.strip())

    def _layer(self, layer: Path, site: Path, layered: Sequence[LayeredDist]) -> None:
        layer.mkdir()
        for dist in layered:
            origin = Path(dist.site)
            for entry in dist.entries:
                link = layer / entry
                if not link.exists():  # namespace folders (nvidia/) are shared by several
                    link.symlink_to(origin / entry)
            info = site / dist.dist_info
            shutil.copytree(origin / dist.dist_info, info)
            (info / "RECORD").write_text("", encoding="utf-8")
            (info / "INSTALLER").write_text("qaihm-lint (layered)\n", encoding="utf-8")
            with contextlib.suppress(FileNotFoundError):
                (info / "direct_url.json").unlink()
        (site / "_qaihm_lint_layer.pth").write_text(f"{layer}\n", encoding="utf-8")


class RunEnvironments:
    """One run's environments: the plan for its models and the store that builds them."""

    def __init__(
        self,
        plan: EnvPlan,
        root: Path,
        note: Callable[[str], None] = lambda text: None,
        progress: Progress | None = None,
    ) -> None:
        self.plan = plan
        self.store = EnvStore(root, plan.base, self._ready, self._step)
        self.note = note
        self.progress = progress
        self.outcomes: dict[str, BuiltEnv | EnvFailure] = {}  # by key, for the run's summary

    def choice(self, model_id: str) -> EnvSpec | EnvSkip | None:
        return self.plan.by_model.get(model_id)

    def key(self, model_id: str) -> str | None:
        choice = self.choice(model_id)
        return choice.key if isinstance(choice, EnvSpec) else None

    def python(self, spec: EnvSpec) -> Path:
        """The interpreter of ``spec``'s environment, built on first use; EnvFailure if not."""
        return self.store.ensure(spec).python

    def _step(self, spec: EnvSpec, text: str | None) -> None:
        if self.progress is None:
            return
        task = f"environment {spec.short}"
        if text is None:
            self.progress.task_finished(task)
        elif text.startswith("creating"):
            users = sum(1 for choice in self.plan.by_model.values() if choice == spec)
            self.progress.task_started(task, f"building for {users} model(s): {text}")
        else:
            self.progress.task_step(task, text)

    def _ready(self, spec: EnvSpec, outcome: BuiltEnv | EnvFailure) -> None:
        self.outcomes[spec.key] = outcome
        users = sum(1 for choice in self.plan.by_model.values() if choice == spec)
        if isinstance(outcome, EnvFailure):
            self.note(f"environment {spec.short} for {users} model(s) failed: {outcome}")
            return
        verb = "reused" if outcome.reused else "built"
        relaxed = ""
        if spec.relaxed and not outcome.reused:
            relaxed = f"; the invoking environment's versions replace {', '.join(spec.relaxed)}"
        self.note(
            f"environment {spec.short} for {users} model(s): {verb} in "
            f"{outcome.seconds:.1f} s{relaxed}"
        )
