from .app import ExampleApp as App  # noqa: F401
from .model import MODEL_ID  # noqa: F401
from .model import ExampleModel as Model  # noqa: F401
