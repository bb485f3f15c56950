from qai_hub_models.models.toy_classifier.app import ExampleApp
from qai_hub_models.models.toy_classifier.model import ExampleModel


def main(is_test: bool = False) -> None:
    app = ExampleApp(ExampleModel.from_pretrained())
    print(app)


if __name__ == "__main__":
    main()
