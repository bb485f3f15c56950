"""Random weights of the right shapes where real upstream loaders look for cached files.

Run by ``bench/real_models.py`` inside a model's built environment, with the checked tree on
``PYTHONPATH`` and ``TORCH_HOME``, ``HF_HOME`` and ``YOLO_CONFIG_DIR`` pointing into a scratch
folder: ``python seed_weights.py MODEL_ID...``. Upstream's loaders download only when the cache
file is missing, so after this each model's ``from_pretrained()`` runs offline, unchanged.

How each kind of loader is served (nothing here is upstream code; it calls the model's own
``from_pretrained()`` with the download step answered locally, and keeps what was asked for):

- torch hub (torchvision weights, ``load_state_dict_from_url``): the module that would load
  the downloaded state dict saves its own randomly initialised one under
  ``$TORCH_HOME/hub/checkpoints/<file name of the URL>``, its BatchNorm statistics first
  calibrated on random inputs of the model's input spec (``_calibrate`` says why);
- Hugging Face (``PreTrainedModel.from_pretrained("org/name")``, and image processors): a
  model built from the class's config (with the label count of the real checkpoint) and a
  default processor config are saved as a snapshot under ``$HF_HOME/hub/models--org--name``,
  which ``HF_HUB_OFFLINE=1`` resolves;
- ultralytics (``YOLO("yolov8n.pt")``): the model built from the bundled ``yolov8n.yaml``
  is saved into ultralytics' weights folder;
- the package's own asset store (``CachedWebModelAsset.from_asset_store(...).fetch()``, under
  ``$QAIHM_STORE_ROOT/.qaihm``): the download of a checkpoint is answered with its path, the
  ``torch.load`` of it with an empty state dict, and the module the loader then fills saves its
  own (calibrated) state there, with the key prefix the real file has (``ASSET_KEY_PREFIX``);
- external repositories (``SourceAsRoot`` clones, ``external_repos``): cloned from local mirrors
  by ``seed_repos.py`` when ``$QAIHM_REPO_MIRRORS`` names them, upstream's own patching after.

Every model is seeded from ``torch.manual_seed($QAIHM_SEED)`` (default 0), so the weights are
the same on every machine. It then loads every model again without any patch, as the deep
worker will, and prints one
JSON line per model: what was seeded, whether the unpatched load worked, and how many of the
seeded tensors that load really used (a checkpoint of which none is used means its keys are not
what the loader expects: the model would run on fresh random weights each time).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# The label counts (and options) of the real checkpoints, which a random config lacks.
HF_CONFIGS: dict[str, dict[str, Any]] = {
    "microsoft/beit-base-patch16-224": {"num_labels": 1000},
    "apple/mobilevit-small": {"num_labels": 1000},
    "facebook/detr-resnet-50": {"num_labels": 91, "use_pretrained_backbone": False},
}
SNAPSHOT = "0" * 39 + "1"  # the revision refs/main names
# Checkpoints of the asset store whose keys carry a prefix that upstream's loader strips:
# DDRNet23s_imagenet.pth was saved from the DDRNet repository's training wrapper (its network
# is the wrapper's ``model``), and ddrnet23_slim's loader keeps ``k[6:]`` of each key.
ASSET_KEY_PREFIX = {"DDRNet23s_imagenet.pth": "model."}
WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".pkl")


class _Pending(dict[str, Any]):
    """What the patched torch hub returns instead of downloading: where the file belongs."""

    def __init__(self, target: Path) -> None:
        super().__init__()
        self.target = target


@contextlib.contextmanager
def _torch_hub_answered(
    seeded: list[str], captured: list[tuple[Any, Path]], awaiting: list[Path]
) -> Iterator[None]:
    import torch

    original_load = torch.nn.Module.load_state_dict
    original_url = torch.hub.load_state_dict_from_url

    def load_state_dict_from_url(url: str, model_dir: str | None = None, *args: Any, **kw: Any):
        folder = Path(model_dir or Path(torch.hub.get_dir()) / "checkpoints")
        name = kw.get("file_name") or os.path.basename(urlparse(url).path)
        target = folder / name
        if target.exists():
            return original_url(url, model_dir, *args, **kw)
        return _Pending(target)

    def load_state_dict(self: Any, state_dict: Any, *args: Any, **kw: Any) -> Any:
        if awaiting and not isinstance(state_dict, _Pending):
            # An asset-store checkpoint was loaded as an empty dict: the loader's own
            # filtering left this module's fresh state, which is what the file will hold.
            state_dict = _Pending(awaiting.pop(0))
        if isinstance(state_dict, _Pending):
            # Saved once calibrated (``_calibrate``). The state dict is taken now, as the
            # loader asks for it: its tensors share storage with the module, so calibration
            # shows in it, and parts the model drops after loading (googlenet's auxiliary
            # heads) stay in it.
            captured.append((self.state_dict(), state_dict.target))
            seeded.append(str(state_dict.target))
            return original_load(self, self.state_dict(), *args, **kw)
        return original_load(self, state_dict, *args, **kw)

    torch.hub.load_state_dict_from_url = load_state_dict_from_url
    torch.nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]
    # torchvision imported the function by name in some releases.
    patched = []
    for name in ("torchvision.models._api", "torchvision.models.utils", "torch.utils.model_zoo"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "load_state_dict_from_url"):
            patched.append((module, module.load_state_dict_from_url))
            module.load_state_dict_from_url = load_state_dict_from_url
    try:
        yield
    finally:
        torch.hub.load_state_dict_from_url = original_url
        torch.nn.Module.load_state_dict = original_load  # type: ignore[method-assign]
        for module, function in patched:
            module.load_state_dict_from_url = function


@contextlib.contextmanager
def _asset_store_answered(awaiting: list[Path]) -> Iterator[None]:
    """Checkpoint downloads of the package's asset store answered with their path, and the
    ``torch.load`` of such a missing file with an empty ``_Pending`` (``awaiting`` then names
    it until a module's ``load_state_dict`` takes its place)."""
    import torch

    try:
        loaders = importlib.import_module("qai_hub_models.utils.asset_loaders")
    except ImportError:
        yield
        return
    original_download = loaders.download_file
    original_load = torch.load
    asked: set[Path] = set()

    def download_file(url: str, dst_path: Any, *args: Any, **kw: Any) -> Any:
        if Path(dst_path).suffix in WEIGHT_SUFFIXES:
            asked.add(Path(dst_path).absolute())
            return dst_path  # the caller checks that it got the path it asked for
        return original_download(url, dst_path, *args, **kw)

    def load(f: Any, *args: Any, **kw: Any) -> Any:
        path = Path(f).absolute() if isinstance(f, (str, os.PathLike)) else None
        if path is not None and path in asked and not path.exists():
            awaiting.append(path)
            return _Pending(path)
        return original_load(f, *args, **kw)

    loaders.download_file = download_file
    torch.load = load
    try:
        yield
    finally:
        loaders.download_file = original_download
        torch.load = original_load


@contextlib.contextmanager
def _hugging_face_answered(seeded: list[str]) -> Iterator[None]:
    try:
        from transformers import PreTrainedModel
    except ImportError:
        yield
        return
    original = PreTrainedModel.from_pretrained.__func__  # type: ignore[attr-defined]

    def from_pretrained(cls: Any, name: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(name, str) and "/" in name and not Path(name).exists():
            _seed_snapshot(cls, name, seeded)
        return original(cls, name, *args, **kw)

    PreTrainedModel.from_pretrained = classmethod(from_pretrained)  # type: ignore[assignment]
    from transformers.image_processing_base import ImageProcessingMixin

    original_processor = ImageProcessingMixin.from_pretrained.__func__  # type: ignore[attr-defined]

    def processor_from_pretrained(cls: Any, name: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(name, str) and "/" in name and not Path(name).exists():
            folder = _snapshot(name)
            if not (folder / "preprocessor_config.json").exists():
                cls().save_pretrained(folder)
                seeded.append(str(folder / "preprocessor_config.json"))
        return original_processor(cls, name, *args, **kw)

    ImageProcessingMixin.from_pretrained = classmethod(processor_from_pretrained)  # type: ignore[assignment]
    try:
        yield
    finally:
        PreTrainedModel.from_pretrained = classmethod(original)  # type: ignore[assignment]
        ImageProcessingMixin.from_pretrained = classmethod(original_processor)  # type: ignore[assignment]


def _snapshot(name: str) -> Path:
    """The snapshot folder of ``name`` that refs/main names, created."""
    hub = Path(os.environ["HF_HOME"]) / "hub" / f"models--{name.replace('/', '--')}"
    (hub / "refs").mkdir(parents=True, exist_ok=True)
    (hub / "refs" / "main").write_text(SNAPSHOT)
    folder = hub / "snapshots" / SNAPSHOT
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _seed_snapshot(cls: Any, name: str, seeded: list[str]) -> None:
    snapshot = _snapshot(name)
    if (snapshot / "config.json").exists():
        return
    config = cls.config_class(**HF_CONFIGS.get(name, {}))
    model = cls(config)
    model.save_pretrained(snapshot, safe_serialization=True)
    seeded.append(str(snapshot))


def _calibrate(module: Any, make_inputs: Any, passes: int = 3) -> None:
    """BatchNorm statistics from a few random batches, as training would leave them.

    Fresh BatchNorm layers hold mean 0 and variance 1 whatever their input: through a deep
    random network the activations then grow layer after layer until scores saturate and tie
    (argmax outputs no runtime can agree on). Real checkpoints never look like that.
    """
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the passes
    was_training = module.training
    module.train()
    with torch.no_grad():
        for _ in range(passes):
            module(*make_inputs())
    module.train(was_training)


def _seed_ultralytics(module: Any, seeded: list[str]) -> None:
    weights = getattr(sys.modules.get(f"{module.__name__}.model"), "DEFAULT_WEIGHTS", None)
    if "ultralytics" not in sys.modules or not isinstance(weights, str):
        return
    if not weights.endswith(".pt"):
        return
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    folder = Path(os.environ["YOLO_CONFIG_DIR"]) / "weights"
    SETTINGS.update({"weights_dir": str(folder)})
    target = folder / weights
    if not target.exists():
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        model = YOLO(weights.replace(".pt", ".yaml"))
        _calibrate(model.model, lambda: (torch.rand(2, 3, 320, 320),))
        model.model.eval()
        model.save(str(target))
    seeded.append(str(target))


def _in_use(instance: Any, captured: list[tuple[dict[str, Any], Path]]) -> dict[str, str]:
    """Per seeded checkpoint: how many of its random tensors the loaded model holds, equal (a
    tensor counts where the model has one of the same name, or ending in ``.<name>``). Constant
    tensors (BatchNorm's initial ones and zeros, counters) are left out: a fresh module has
    them too, loaded or not."""
    import torch

    state = instance.state_dict() if hasattr(instance, "state_dict") else {}
    counts = {}
    for everything, target in captured:
        saved = {
            key: tensor
            for key, tensor in everything.items()
            if isinstance(tensor, torch.Tensor)
            and tensor.numel() > 1
            and not bool((tensor == tensor.flatten()[0]).all())
        }
        used = sum(
            any(
                (name == key or name.endswith("." + key))
                and isinstance(value, torch.Tensor)
                and value.shape == tensor.shape
                and torch.equal(value, tensor)
                for name, value in state.items()
            )
            for key, tensor in saved.items()
        )
        counts[target.name] = f"{used}/{len(saved)}"
    return counts


def seed(model_id: str) -> dict[str, Any]:
    import seed_repos
    import torch

    # The same random weights on every machine and every run: a tier that passes here passes
    # in CI (random class heads leave near-ties that decide argmax outputs such as yolov8_det's
    # class_idx, and how many of those there are varies from one draw to the next).
    torch.manual_seed(int(os.environ.get("QAIHM_SEED", "0")))

    seeded: list[str] = []
    result: dict[str, Any] = {"model": model_id, "seeded": seeded}
    captured: list[tuple[Any, Path]] = []
    try:
        with seed_repos.clones_answered(result):
            # 0.65.0's external_repos clone on import, 0.46.1's SourceAsRoot in from_pretrained.
            module = importlib.import_module(f"qai_hub_models.models.{model_id}")
            _seed_ultralytics(module, seeded)
            awaiting: list[Path] = []
            with (
                _torch_hub_answered(seeded, captured, awaiting),
                _asset_store_answered(awaiting),
                _hugging_face_answered(seeded),
            ):
                instance = module.Model.from_pretrained()
        if captured:
            import torch

            spec = instance.get_input_spec()
            inputs = importlib.import_module("qai_hub_models.utils.input_spec")

            def make() -> list[Any]:
                return [t.repeat(2, *[1] * (t.dim() - 1)) for t in inputs.make_torch_inputs(spec)]

            _calibrate(instance, make)
            instance.eval()
            for state, target in captured:
                target.parent.mkdir(parents=True, exist_ok=True)
                prefix = ASSET_KEY_PREFIX.get(target.name, "")
                torch.save({prefix + key: value for key, value in state.items()}, target)
    except Exception as exc:
        result["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result["traceback"] = traceback.format_exc(limit=-6)
        return result
    try:
        loaded = module.Model.from_pretrained()  # as the worker will: no patch
        result["offline_load"] = "ok"
    except Exception as exc:
        result["offline_load"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return result
    result["weights_in_use"] = _in_use(loaded, captured)
    unused = [name for name, count in result["weights_in_use"].items() if count.startswith("0/")]
    if unused:
        result["error"] = f"none of the seeded tensors of {', '.join(unused)} is loaded"
    return result


def main(argv: list[str]) -> int:
    for model_id in argv:
        print(json.dumps(seed(model_id)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
