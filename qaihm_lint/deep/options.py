"""How a deep run is configured (``DeepOptions``), and the defaults derived from the machine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.deep.common import STAGE_GROUPS, DeepError
from qaihm_lint.deep.sandbox import default_mode
from qaihm_lint.workspace import ModelFolder

DEFAULT_TARGET = "Samsung Galaxy S25 (Family)"
DEFAULT_TIMEOUT = 600.0  # per stage: from_pretrained of a large model on CPU takes minutes
DEFAULT_COMPILE_TIMEOUT = 3600.0  # per job: AI Hub queues can be long
MIN_MEMORY_MB = 2048


@dataclass(frozen=True)
class DeepOptions:
    """How ``--deep`` runs.

    ``stages`` holds stage groups: ``load`` (import, from_pretrained, input spec, eager forward:
    QAI801-QAI804; always run, everything needs it), ``trace`` (QAI805/QAI806), ``onnx``
    (QAI807) and ``compile`` (QAI808; brings ``trace`` along, whose model it submits).
    ``timeout`` is per stage in seconds; ``compile_timeout`` bounds each compile job.
    ``memory_limit_mb`` caps each worker's address space (default: 80 % of RAM shared among
    the parallel workers, at least 2 GiB). ``fork_server`` pays the interpreter start and
    ``import torch`` once per environment and forks a worker per model from there; False
    starts a fresh interpreter per model (slower, for comparison).
    """

    targets: tuple[str, ...] = (DEFAULT_TARGET,)
    stages: frozenset[str] = frozenset(STAGE_GROUPS)
    timeout: float = DEFAULT_TIMEOUT
    compile: bool = True
    python: str | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    use_cache: bool = True
    cache_dir: Path | None = None
    progress: bool | None = None
    memory_limit_mb: int | None = None
    compile_timeout: float = DEFAULT_COMPILE_TIMEOUT
    poll_interval: float = 10.0
    compile_options: str = ""
    fork_server: bool = True
    # Build the environments upstream's CI would (envbuild.py) instead of running every model
    # in ``python``; ignored when ``python`` is given. ``env_dir`` is where they are kept.
    environments: bool = False
    env_dir: Path | None = None
    # --deep-network: workers may reach the network (for assets); off by default.
    network: bool = False
    # "auto" (every protection this machine offers), "off" (only the clean environment and the
    # tree copy: for comparison), "bwrap" or "landlock" (sandbox.py).
    sandbox: str = field(default_factory=default_mode)
    # False in a --shard run: recorded model costs are kept as the shards found them.
    refresh_costs: bool = True


def default_memory_limit_mb(jobs: int) -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8192
    return max(MIN_MEMORY_MB, int(total * 0.8 / max(1, jobs) / (1024 * 1024)))


CACHE_VARIABLE = "QAIHM_LINT_DEEP_CACHE"


def cache_dir_for(folders: Sequence[ModelFolder], options: DeepOptions) -> Path | None:
    """Where results are cached: ``options.cache_dir``, else $QAIHM_LINT_DEEP_CACHE, else the
    user's cache folder. Never inside a checked tree: a verdict found there could have been
    committed by anyone (or written by a model), so such a folder is refused."""
    if not options.use_cache:
        return None
    if options.cache_dir is not None:
        found = options.cache_dir
    elif os.environ.get(CACHE_VARIABLE):
        found = Path(os.environ[CACHE_VARIABLE]).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        found = base / "qaihm-lint" / "deep"
    resolved = found.resolve()
    for folder in folders:
        root = folder.package.repo_root.resolve() if folder.package else None
        if root is not None and (resolved == root or root in resolved.parents):
            raise DeepError(
                f"the deep cache {found} is inside the checked tree {root}: verdicts there "
                f"could come from anyone who can commit; set {CACHE_VARIABLE} to a folder "
                "outside it"
            )
    return found
