from collections.abc import Callable


class ExampleApp:
    def __init__(self, model: Callable) -> None:
        self.model = model

    def predict(self, image):
        return self.model(image)
