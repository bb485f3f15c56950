"""Example files the model-class rules share: a ``_shared`` YOLO base and a model built on it."""

SHARED_YOLO = """\
import torch

from qai_hub_models.utils.base_model import BaseModel


class Yolo(BaseModel):
    @classmethod
    def from_pretrained(cls, weights: str = "yolo.pt"):
        return cls()

    @staticmethod
    def get_input_spec(height: int = 640, width: int = 640):
        return {"image": ((1, 3, height, width), "float32")}

    @staticmethod
    def get_output_names():
        return ["boxes", "scores"]
"""

YOLO_MODEL = """\
from qai_hub_models.models._shared.yolo.model import Yolo

MODEL_ASSET_VERSION = 1


class YoloV7(Yolo):
    def forward(self, image):
        return image
"""

INIT = "from .model import {} as Model  # noqa: F401\nfrom .app import ExampleApp as App\n"
