"""qaihm-lint: lint and fix the model folders of Qualcomm AI Hub Models."""

__version__ = "0.2.0"
