"""Names shared by the deep-mode parent modules: the usage errors, and the stage groups of
``--stages``."""

from __future__ import annotations

from qaihm_lint.install import deep_install_hint


class DeepError(Exception):
    """A usage or setup problem (missing [deep] extra, missing token, unknown target).

    The CLI prints ``str(exc)`` as one line and exits 2; no model was checked.
    """


class DeepCancelled(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a deep run, after its workers were stopped and their folders
    removed. ``signal_name`` says which; ``summary`` what was stopped, in one line."""

    def __init__(self, signal_name: str, summary: str) -> None:
        super().__init__(summary)
        self.signal_name = signal_name
        self.summary = summary


INSTALL_HINT = deep_install_hint()
CONFIGURE_HINT = "qai-hub configure --api_token <YOUR_TOKEN>"

# What ``--stages`` selects. "load" (stages 1-4) is what every other group needs, so it always
# runs; "compile" needs the traced model, so it brings "trace" along.
STAGE_GROUPS: dict[str, tuple[str, ...]] = {
    "load": ("import", "from_pretrained", "input_spec", "forward"),
    "trace": ("trace",),
    "onnx": ("onnx",),
    "compile": ("compile",),
}
ALL_GROUPS = frozenset(STAGE_GROUPS)


def normalise_groups(groups: frozenset[str] | set[str], compile_on: bool) -> frozenset[str]:
    """The stage groups a run really needs for ``groups`` (see STAGE_GROUPS)."""
    unknown = sorted(set(groups) - ALL_GROUPS)
    if unknown:
        raise DeepError(
            f"unknown deep stage(s) {', '.join(unknown)}: choose from "
            f"{', '.join(sorted(ALL_GROUPS))}"
        )
    result = set(groups) | {"load"}
    if not compile_on:
        result.discard("compile")
    if "compile" in result:
        result.add("trace")
    return frozenset(result)
