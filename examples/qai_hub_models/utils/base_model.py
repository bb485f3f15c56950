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


class CollectionModel:
    @staticmethod
    def add_component(component, name=None, subfolder_hf=None):
        def decorator(cls):
            return cls

        return decorator


class BasePrecompiledModel(HubModel):
    pass
