from __future__ import annotations

import torch

from qai_hub_models.utils.base_model import BaseModel
from qai_hub_models.utils.input_spec import InputSpec

MODEL_ID = __name__.split(".")[-2]
MODEL_ASSET_VERSION = 1


class ExampleModel(BaseModel):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    @classmethod
    def from_pretrained(cls, weights: str = "default") -> ExampleModel:
        return cls(torch.nn.Conv2d(3, 8, 3))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)

    @staticmethod
    def get_input_spec(height: int = 224, width: int = 224) -> InputSpec:
        return {"image": ((1, 3, height, width), "float32")}

    @staticmethod
    def get_output_names() -> list[str]:
        return ["features"]
