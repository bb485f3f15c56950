"""Small model folders written into a copy of the deep fixture package, for one test each."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from tests.deep.conftest import FIXTURE_REPO

# A model that passes every stage; ``{body}`` runs inside from_pretrained().
MODEL_TEMPLATE = """\
from __future__ import annotations

import torch

{imports}
from qai_hub_models.utils.base_model import BaseModel


class Made(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    @classmethod
    def from_pretrained(cls) -> Made:
{body}
        return cls()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(image)) * {scale}

    @staticmethod
    def get_input_spec() -> dict[str, tuple[tuple[int, ...], str]]:
        return {{"image": ((1, 3, 8, 8), "float32")}}

    @staticmethod
    def get_output_names() -> list[str]:
        return ["features"]
"""


def add_model(
    repo: Path,
    model_id: str,
    *,
    imports: str = "",
    body: str = "pass",
    scale: str = "1.0",
    files: dict[str, str] | None = None,
) -> Path:
    """A model folder ``model_id`` in ``repo``'s package; ``files`` adds or replaces files."""
    folder = repo / "qai_hub_models" / "models" / model_id
    folder.mkdir(parents=True)
    shutil.copy(FIXTURE_REPO / "qai_hub_models/models/good/info.yaml", folder / "info.yaml")
    (folder / "__init__.py").write_text("from .model import Made as Model  # noqa: F401\n")
    source = MODEL_TEMPLATE.format(
        imports=imports, body=textwrap.indent(textwrap.dedent(body), " " * 8), scale=scale
    )
    (folder / "model.py").write_text(source)
    for name, text in (files or {}).items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder
