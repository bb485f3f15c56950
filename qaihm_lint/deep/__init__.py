"""``--deep``: prove each model loads, traces, exports and compiles (DESIGN §7).

The public names are imported lazily: the worker's modules live in this package too (imported
as ``qaihm_lint.deep.inside.worker``, or by the fork server under a private package name in the
model's interpreter), and the worker must not pull in the parent side (diagnostics, rich,
qai_hub), so this module imports only the standard library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qaihm_lint.deep.common import DeepCancelled, DeepError
    from qaihm_lint.deep.hub import (
        FakeHubClient,
        FakeJobScript,
        HubClient,
        HubJob,
        HubStatus,
        QaiHubClient,
    )
    from qaihm_lint.deep.options import DeepOptions
    from qaihm_lint.deep.outcomes import DeepResult, ModelOutcome
    from qaihm_lint.deep.runner import run_deep, run_deep_detailed

__all__ = [
    "DeepCancelled",
    "DeepError",
    "DeepOptions",
    "DeepResult",
    "FakeHubClient",
    "FakeJobScript",
    "HubClient",
    "HubJob",
    "HubStatus",
    "ModelOutcome",
    "QaiHubClient",
    "run_deep",
    "run_deep_detailed",
]

_HOMES = {
    "DeepCancelled": "qaihm_lint.deep.common",
    "DeepError": "qaihm_lint.deep.common",
    "FakeHubClient": "qaihm_lint.deep.hub",
    "FakeJobScript": "qaihm_lint.deep.hub",
    "HubClient": "qaihm_lint.deep.hub",
    "HubJob": "qaihm_lint.deep.hub",
    "HubStatus": "qaihm_lint.deep.hub",
    "QaiHubClient": "qaihm_lint.deep.hub",
    "DeepOptions": "qaihm_lint.deep.options",
    "DeepResult": "qaihm_lint.deep.outcomes",
    "ModelOutcome": "qaihm_lint.deep.outcomes",
    "run_deep": "qaihm_lint.deep.runner",
    "run_deep_detailed": "qaihm_lint.deep.runner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
