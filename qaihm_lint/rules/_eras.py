"""The package's framework (``utils/base_model.py``) as each era of upstream shapes it, small.

Rule examples and test trees build on these so that every era the linter must read stays
covered: the rules take their expectations from whichever of these the tree holds.

* ``STATIC_ERA``: the onboarding guide's era (up to 0.52): static spec methods.
* ``GENERATED_ERA``: 0.53: still static, and ``get_output_names`` is generated from a class's
  own ``get_output_spec`` by ``HubModel.__init_subclass__``.
* ``INSTANCE_ERA``: 0.54 to 0.58 (info.yaml, then code-gen ``external_repos``): instance spec
  methods, ``get_output_names`` still generated.
* ``WORKBENCH_ERA``: the manifest layout: ``WorkbenchModel`` with abstract instance methods and a
  concrete ``get_output_names`` that derives from the abstract ``get_output_spec``.
"""

_COLLECTION = """

class CollectionModel:
    @staticmethod
    def add_component(component, name=None, subfolder_hf=None):
        def decorator(cls):
            return cls

        return decorator
"""

STATIC_ERA = (
    """\
from __future__ import annotations

import torch


class FromPretrainedProtocol:
    @classmethod
    def from_pretrained(cls):
        raise NotImplementedError


class HubModel:
    @staticmethod
    def get_input_spec():
        raise NotImplementedError

    @staticmethod
    def get_output_names():
        raise NotImplementedError


class BaseModel(torch.nn.Module, HubModel, FromPretrainedProtocol):
    pass
"""
    + _COLLECTION
    + """

class BasePrecompiledModel(HubModel):
    pass
"""
)

GENERATED_ERA = STATIC_ERA.replace(
    "class HubModel:\n",
    """class HubModel:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_output_spec" in cls.__dict__ and "get_output_names" not in cls.__dict__:

            def _names():
                return list(cls.get_output_spec())

            cls.get_output_names = staticmethod(_names)

    @staticmethod
    def get_output_spec():
        return {}

""",
)

INSTANCE_ERA = (
    GENERATED_ERA.replace(
        "    @staticmethod\n    def get_input_spec():", "    def get_input_spec(self):"
    )
    .replace("    @staticmethod\n    def get_output_names():", "    def get_output_names(self):")
    .replace("    @staticmethod\n    def get_output_spec():", "    def get_output_spec(self):")
    .replace(
        "            def _names():\n                return list(cls.get_output_spec())\n\n"
        "            cls.get_output_names = staticmethod(_names)",
        "            def _names(self):\n                return list(self.get_output_spec())\n\n"
        "            cls.get_output_names = _names",
    )
)

WORKBENCH_ERA = (
    """\
from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class WorkbenchModel(ABC):
    @classmethod
    @abstractmethod
    def from_pretrained(cls): ...

    @abstractmethod
    def get_input_spec(self): ...

    @abstractmethod
    def get_output_spec(self): ...

    def get_output_names(self):
        return list(self.get_output_spec())


class PytorchWorkbenchModel(WorkbenchModel, torch.nn.Module):
    pass


BaseModel = PytorchWorkbenchModel
"""
    + _COLLECTION
    + """

class PrecompiledWorkbenchModel(WorkbenchModel):
    pass
"""
)
