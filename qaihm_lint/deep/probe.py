"""The worker interpreter's torch, onnx and onnxruntime versions, asked once per interpreter.

torchvision and torchaudio, where installed, must import beside that torch: a pair from two
builds is a set-up error here (exit 2, before any environment is built), not a finding of every
model after a build.

Importing torch takes seconds, so the answer is remembered in the process and on disk (under
the deep cache) until the interpreter or its site-packages change (``cache.interpreter_stamp``).
A missing or broken interpreter is a DeepError naming the fix, before any model runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from qaihm_lint.deep.cache import interpreter_stamp, load_probe, store_probe
from qaihm_lint.deep.common import INSTALL_HINT, DeepError

_PROBE = (
    "import json, sys, importlib, importlib.metadata as md\n"
    "import torch, onnx, onnxruntime\n"
    "found = {'python': sys.version.split()[0], 'torch': torch.__version__,"
    " 'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__}\n"
    # torch's companions must load beside it: a torchvision built for another torch fails
    # in every environment built from this one, after minutes of installing.
    "for name in ('torchvision', 'torchaudio'):\n"
    "    try:\n"
    "        version = md.version(name)\n"
    "    except md.PackageNotFoundError:\n"
    "        continue\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except Exception as exc:\n"
    "        text = ' '.join(str(exc).split())[:200]\n"
    "        found['unmatched'] = f'{name} {version} ({type(exc).__name__}: {text})'\n"
    "        break\n"
    "    found[name] = version\n"
    "print(json.dumps(found))\n"
)

_PROBED: dict[tuple[str, str | None], dict[str, str]] = {}


def probe_interpreter(
    python: str, explicit: bool = False, cache_dir: Path | None = None
) -> dict[str, str]:
    """The worker interpreter's torch/onnx/onnxruntime versions, or DeepError naming the fix.

    Importing torch takes seconds, so the answer is remembered per interpreter, in the process
    and under ``cache_dir``, until the interpreter or its site-packages change (cache.py).
    """
    stamp = interpreter_stamp(python)
    memo = (python, stamp)
    if memo not in _PROBED:
        versions = load_probe(cache_dir, stamp)
        if versions is None:
            versions = _probe(python, explicit)
            store_probe(cache_dir, stamp, versions)
        _PROBED[memo] = versions
    return dict(_PROBED[memo])


def _probe(python: str, explicit: bool) -> dict[str, str]:
    where = f" in {python}" if explicit else ""
    try:
        completed = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
            check=False,
        )
    except FileNotFoundError as exc:
        raise DeepError(f"--python {python}: no such interpreter") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeepError(f"cannot run the deep-mode interpreter {python}: {exc}") from exc
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {completed.returncode}"
        raise DeepError(
            f"--deep needs torch, onnx and onnxruntime{where} ({reason}): {INSTALL_HINT}"
        )
    try:
        data = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise DeepError(f"cannot read the versions of torch, onnx and onnxruntime{where}") from exc
    versions = {str(key): str(value) for key, value in data.items()}
    unmatched = versions.pop("unmatched", None)
    if unmatched is not None:
        raise DeepError(
            f"{unmatched} does not load beside torch {versions.get('torch', '?')}{where}: they "
            f"come from different builds, and every environment built from this one would "
            f"fail the same way. Install them together: {INSTALL_HINT}"
        )
    return versions
