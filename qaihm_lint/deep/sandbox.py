"""What a deep worker may see and change: its environment, its file system, its network.

Model code is untrusted (a pull request can change it), so the parent hands it only what the
stages need, in layers that each work without root and are detected, not assumed:

- always: an allow-listed environment (no token, no credentials: ``HOME`` and the XDG folders
  are the worker's own, inside its temporary folder), and a private copy of the package being
  checked (``TreeCopy``), so what a model writes never reaches the checked tree or its cache key;
- bubblewrap (``bwrap``), where it is installed and user namespaces work: the fork server and
  every worker run in their own mount, PID, IPC and network namespaces (no network unless
  ``--deep-network``); the root file system is read-only, and the user's home, the checked tree,
  the caches and the system's temporary folder are hidden behind empty folders, with only the
  interpreter, the tree copy, the environments and the run's folder bound back;
- Landlock (Linux 5.13+, applied by each forked worker to itself, ``inside/confine.py``): the
  worker writes only into its own folder and its model's folder of the copy; from ABI 4 no TCP
  unless ``--deep-network``; from ABI 6 no signal to a process outside its sandbox.

``Protection.describe()`` is what the run summary and the report say was in force.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.deep.processes import HERE as INSIDE
from qaihm_lint.deep.treecopy import TreeCopy

# What a worker inherits from the caller's environment; everything else (tokens, cloud keys,
# CI variables, proxies unless the network is allowed) stays out.
PASSED = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        # Where weights were placed beforehand (read only): upstream's loaders look there first.
        "TORCH_HOME",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        # The package's own asset store is $QAIHM_STORE_ROOT/.qaihm (weights, SourceAsRoot and
        # external_repos clones): shared with the worker (``shared_folders``).
        "QAIHM_STORE_ROOT",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        # Where the user's interpreter finds packages (its folders are bound back, read-only).
        "PYTHONPATH",
    }
)
STORE_VARIABLE = "QAIHM_STORE_ROOT"
# Names more variables to pass (comma-separated); folders they name are shared with the
# worker read-write. For harnesses and asset folders the user chooses to share, never a secret.
PASS_VARIABLE = "QAIHM_LINT_PASS_ENV"
# The sandbox to use when DeepOptions does not say: auto, off, bwrap or landlock.
MODE_VARIABLE = "QAIHM_LINT_SANDBOX"
# Passed only with --deep-network (a proxy URL can carry credentials too, but without it the
# network is unusable behind one).
PASSED_WITH_NETWORK = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)
# Folders named by these variables are bound back, read-only, into the sandbox.
ASSET_FOLDERS = ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE")


def worker_environment(
    source: Mapping[str, str], home: Path, tmp: Path, *, threads: int, network: bool
) -> dict[str, str]:
    """The environment a worker runs in: the allow-listed variables of ``source``, a home and
    XDG folders of its own (libraries write settings there, never into the user's), and what
    the stages need."""
    allowed = PASSED | (PASSED_WITH_NETWORK if network else frozenset()) | extra_names(source)
    env = {name: value for name, value in source.items() if name in allowed}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
            # ultralytics' settings and weights: the user's chosen folder (shared, see
            # shared_folders), else the worker's own, never ~/.config.
            "YOLO_CONFIG_DIR": source.get("YOLO_CONFIG_DIR")
            or str(home / ".config" / "Ultralytics"),
            "TMPDIR": str(tmp),
            "CUDA_VISIBLE_DEVICES": "",
            # What upstream's CI sets: SourceAsRoot clones without asking on stdin.
            "QAIHM_CI": "1",
            # The tree copy is thrown away, but bytecode has no business in it either.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
        }
    )
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, str(threads))
    if not network:
        # Libraries that honour it fail fast instead of waiting on a network that is not there.
        env.setdefault("HF_HUB_OFFLINE", "1")
    return env


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class Protection:
    """The protections a deep run has; ``why_not`` says what is missing and why."""

    bwrap: str | None = None
    landlock_abi: int = 0
    network: bool = False
    why_not: tuple[str, ...] = ()

    @property
    def confined(self) -> bool:
        return self.bwrap is not None or self.landlock_abi > 0

    def describe(self) -> str:
        parts = ["clean environment", "private copy of the tree"]
        if self.bwrap:
            parts.append("bubblewrap (read-only system, home and caches hidden, own PID space)")
        if self.landlock_abi:
            parts.append(f"Landlock ABI {self.landlock_abi} (writes only to its own folders)")
        if self.network:
            parts.append("NETWORK ALLOWED (--deep-network)")
        elif self.bwrap or self.landlock_abi >= 4:
            parts.append("no network")
        text = "deep workers run with: " + ", ".join(parts)
        if self.why_not:
            text += "; missing: " + "; ".join(self.why_not)
        return text


def detect(mode: str = "auto", network: bool = False) -> Protection:
    """What this machine offers. ``mode``: ``auto`` (all that works), ``off`` (only the clean
    environment and the copy: for comparison), ``bwrap`` or ``landlock`` (only that one)."""
    if mode == "off":
        return Protection(network=network, why_not=("the sandbox was turned off",))
    why_not: list[str] = []
    bwrap = _working_bwrap() if mode in ("auto", "bwrap") else None
    if bwrap is None and mode in ("auto", "bwrap"):
        why_not.append(_bwrap_problem())
    abi = landlock_abi() if mode in ("auto", "landlock") else 0
    if not abi and mode in ("auto", "landlock"):
        why_not.append("Landlock is not available in this kernel")
    return Protection(bwrap, abi, network, tuple(why_not))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when there is none (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    except (OSError, AttributeError):
        return 0
    return max(0, version)


@functools.lru_cache(maxsize=1)
def _bwrap_check() -> tuple[str | None, str]:
    found = shutil.which("bwrap")
    if found is None:
        return None, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        done = subprocess.run(
            [found, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bubblewrap does not run: {exc}"
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, "bubblewrap cannot create namespaces here" + (
            f" ({error[-1][:160]})" if error else ""
        )
    return found, ""


def _working_bwrap() -> str | None:
    return _bwrap_check()[0]


def _bwrap_problem() -> str:
    return _bwrap_check()[1]


# --------------------------------------------------------------------------- the file system


@dataclass
class RunFolders:
    """The folders of one deep run: the root every worker folder lives in, the tree copy, and
    the places the sandbox must hide (the user's home, the checked tree, the caches)."""

    root: Path
    hidden: list[Path] = field(default_factory=list)
    readable: list[Path] = field(default_factory=list)


def bwrap_command(
    bwrap: str,
    argv: list[str],
    *,
    hidden: Iterable[Path],
    readable: Iterable[Path],
    writable: Iterable[Path],
    network: bool,
) -> list[str]:
    """``argv`` under bubblewrap: the system read-only, ``hidden`` folders replaced by empty
    ones, then ``readable`` bound back read-only and ``writable`` read-write (in that order,
    so a folder inside a hidden one comes back)."""
    command = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
    ]
    if network:
        command.append("--share-net")
    hidden_roots = _outermost(hidden)
    for path in hidden_roots:
        if path.is_dir():
            command += ["--tmpfs", str(path)]
    readable, writable = list(readable), list(writable)
    for path in _outermost(readable):
        if path.exists():
            command += ["--ro-bind", str(path), str(path)]
    for path in _outermost(writable):
        command += ["--bind", str(path), str(path)]
    for flag, paths in (("--ro-bind", readable), ("--bind", writable)):
        for real, link in _hidden_links(paths, hidden_roots):
            command += [flag, str(real), str(link)]
    return [*command, "--", *argv]


def _hidden_links(paths: Iterable[Path], hidden: list[Path]) -> list[tuple[Path, Path]]:
    """(real folder, link path) for each of ``paths`` reached through a symbolic link that
    lies in a hidden folder (an environment under /tmp/link whose files are elsewhere): the
    folder is bound where its real path is, and the empty folder that hides the link would
    leave every path through the link dangling, so it is bound at the link's path too."""
    found = []
    for path in paths:
        link, real = Path(os.path.abspath(path)), Path(os.path.realpath(path))
        if link == real or not real.exists():
            continue
        if any(root == link or root in link.parents for root in hidden):
            found.append((real, link))
    return found


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` resolved, without those inside another of them, parents first."""
    resolved = sorted({Path(os.path.realpath(path)) for path in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in resolved:
        if not any(path == other or other in path.parents for other in kept):
            kept.append(path)
    return kept


@functools.lru_cache(maxsize=16)
def interpreter_paths(python: str) -> tuple[str, ...]:
    """What ``python`` reads to start: its prefixes and import path (asked once per run)."""
    script = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, *sys.path]))"
    try:
        done = subprocess.run(
            [python, "-I", "-c", script], capture_output=True, timeout=60, check=True
        )
        paths = [str(p) for p in json.loads(done.stdout) if p]
    except (OSError, ValueError, subprocess.SubprocessError):
        paths = []
    executable = shutil.which(python) or python
    paths += [str(Path(executable).parent.parent), str(Path(os.path.realpath(executable)).parent)]
    return tuple(paths)


def hidden_folders(extra: Iterable[Path]) -> list[Path]:
    """What the sandbox hides: the user's home (credentials, the HMAC key, ssh keys), root's,
    the system temporary folder, and ``extra`` (the checked tree, the caches)."""
    found = [Path.home(), Path("/root"), Path("/tmp"), Path("/var/tmp")]
    for name in ("TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "RUNNER_TEMP"):
        if os.environ.get(name):
            found.append(Path(os.environ[name]))
    # Never the whole system (a container whose HOME is /): only folders below the top level.
    return [path for path in (*found, *extra) if len(Path(os.path.realpath(path)).parts) >= 2]


def asset_folders(env: Mapping[str, str]) -> list[Path]:
    """Folders the worker reads: weights placed beforehand, the user's PYTHONPATH."""
    found = [Path(env[name]) for name in ASSET_FOLDERS if env.get(name)]
    found += [Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return found


def extra_names(env: Mapping[str, str]) -> frozenset[str]:
    return frozenset(n.strip() for n in env.get(PASS_VARIABLE, "").split(",") if n.strip())


def shared_folders(env: Mapping[str, str]) -> list[Path]:
    """The folders the variables of PASS_VARIABLE name, an explicit YOLO_CONFIG_DIR (where
    ultralytics keeps its weights and writes its settings) and the asset store of an explicit
    QAIHM_STORE_ROOT (only its ``.qaihm``, never the root, which may well be the home: upstream
    downloads and clones into it, and some loaders edit their clone when they load), shared
    read-write with workers."""
    found = []
    for name in sorted(extra_names(env) | {"YOLO_CONFIG_DIR"}):
        for part in env.get(name, "").split(os.pathsep):
            if part and os.path.isabs(part) and os.path.isdir(part):
                found.append(Path(part))
    store = env.get(STORE_VARIABLE, "")
    if store and os.path.isabs(store) and os.path.isdir(os.path.join(store, ".qaihm")):
        found.append(Path(store) / ".qaihm")
    return found


def default_mode() -> str:
    mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower()
    return mode if mode in ("auto", "off", "bwrap", "landlock") else "auto"


RUN_PREFIX = "qaihm-deep-run-"
PARENT_PREFIX = "qaihm-deep-parent-"


def remove_abandoned_runs() -> int:
    """Remove the run folders of deep runs whose process is gone (killed with SIGKILL before
    it could clean up: the tree copy, the workers' folders). A live run's folders stay."""
    import tempfile

    removed = 0
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return 0
    for entry in entries:
        for prefix in (RUN_PREFIX, PARENT_PREFIX):
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix) :].split("-", 1)[0]
            if not pid_text.isdigit() or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != getattr(os, "getuid", int)():
                    continue
                os.kill(int(pid_text), 0)
                continue  # alive
            except ProcessLookupError:
                pass
            except OSError:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


class SandboxRun:
    """The sandbox of one deep run: its folder (every worker's folder and the tree copies live
    in it, removed at the end), the command wrapper for fork servers, and each worker's
    environment and Landlock rules."""

    def __init__(
        self,
        protection: Protection,
        threads: int,
        hidden: Iterable[Path] = (),
        root: Path | None = None,
    ) -> None:
        import tempfile
        import threading

        self.protection = protection
        self.threads = threads
        remove_abandoned_runs()
        made = root or tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-")
        self.root = Path(made).resolve()
        self.root.chmod(0o700)
        self.hidden = hidden_folders(hidden)
        self._copies: dict[Path, TreeCopy] = {}
        self._lock = threading.Lock()
        (self.root / "server" / "home").mkdir(parents=True, exist_ok=True)
        (self.root / "server" / "tmp").mkdir(exist_ok=True)
        (self.root / "workers").mkdir(exist_ok=True)
        # The parent's own folder (artifacts it validated and copied), hidden from workers.
        self.private = Path(tempfile.mkdtemp(prefix=f"{PARENT_PREFIX}{os.getpid()}-")).resolve()
        self.hidden.append(self.private)

    def tree(self, repo_root: Path, package_root: Path) -> TreeCopy:
        """The run's copy of the tree at ``repo_root`` (made on first use)."""
        with self._lock:
            found = self._copies.get(repo_root)
            if found is None:
                found = TreeCopy(repo_root, package_root, self.root / f"tree{len(self._copies)}")
                self._copies[repo_root] = found
            return found

    def workdir(self, model_id: str) -> Path:
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"{model_id}-", dir=self.root / "workers"))

    def environment(self, home: Path, tmp: Path) -> dict[str, str]:
        home.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        return worker_environment(
            os.environ, home, tmp, threads=self.threads, network=self.protection.network
        )

    def server_environment(self) -> dict[str, str]:
        server = self.root / "server"
        return self.environment(server / "home", server / "tmp")

    def wrap(self, python: str, argv: list[str]) -> list[str]:
        """A fork server's command line, in bubblewrap when the run has it."""
        if self.protection.bwrap is None:
            return argv
        return bwrap_command(
            self.protection.bwrap,
            argv,
            hidden=self.hidden,
            readable=[Path(p) for p in self._readable(python)],
            writable=[self.root, *shared_folders(os.environ)],
            network=self.protection.network,
        )

    def confine(self, python: str, writable: Iterable[Path]) -> dict[str, object]:
        """A worker's Landlock rules (``inside/confine.py``); reads are restricted here only
        when bubblewrap is not hiding anything already."""
        if not self.protection.landlock_abi:
            return {}
        spec: dict[str, object] = {
            "abi": self.protection.landlock_abi,
            "write": [str(path) for path in (*writable, *shared_folders(os.environ))],
            "network": self.protection.network,
        }
        if self.protection.bwrap is None:
            spec["hide"] = [str(path) for path in self.hidden]
            spec["read"] = [
                *self._readable(python),
                *(str(copy.root) for copy in self._copies.values()),
            ]
        return spec

    @staticmethod
    def _readable(python: str) -> list[str]:
        """What a worker reads besides its own folders: its interpreter, the invoking one (a
        built environment reaches the torch stack there through its layer's links, and that
        environment may well sit under a hidden folder such as /tmp), the worker's code and
        the assets placed beforehand."""
        return [
            *interpreter_paths(python),
            *interpreter_paths(sys.executable),
            str(INSIDE),
            *(str(path) for path in asset_folders(os.environ)),
        ]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.private, ignore_errors=True)


# --------------------------------------------------------------------------- environment builds

# What an environment build (uv, and the build backends of the packages it builds, which run
# code named by the checked tree) inherits: enough to find an index and a certificate store.
BUILD_PASSED = frozenset(
    {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CACHE_HOME"}
)
BUILD_PREFIXES = ("UV_", "PIP_INDEX", "PIP_EXTRA_INDEX", "PIP_FIND_LINKS", "PIP_TRUSTED")


def build_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The environment an environment build runs in: allow-listed, proxies included (a build
    needs the package index), no token or cloud credential."""
    allowed = BUILD_PASSED | PASSED_WITH_NETWORK
    return {
        name: value
        for name, value in source.items()
        if name in allowed or name.startswith(BUILD_PREFIXES)
    }


def scrub(text: str, source: Mapping[str, str]) -> str:
    """``text`` with the value of every variable of ``source`` that a worker would not get
    replaced by ``$NAME``: an installer's error may echo a file it was pointed at (the
    process's own environment, say)."""
    for name, value in sorted(source.items(), key=lambda item: -len(item[1])):
        if name not in PASSED and len(value) >= 6 and value in text:
            text = text.replace(value, f"${name}")
    return text
