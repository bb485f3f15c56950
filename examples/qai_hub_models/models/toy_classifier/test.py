import pytest

from qai_hub_models.models.toy_classifier.demo import main as demo_main
from qai_hub_models.models.toy_classifier.model import ExampleModel


def test_task() -> None:
    assert ExampleModel.from_pretrained() is not None


@pytest.mark.trace
def test_trace() -> None:
    assert ExampleModel.get_output_names() == ["features"]


def test_demo() -> None:
    demo_main(is_test=True)
