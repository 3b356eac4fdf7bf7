"""Shared design of the depth studies: a ResNet family (parametrization, block size, first-layer
rate exponent ζ, optimizer) and its validation."""
from __future__ import annotations

from dataclasses import dataclass

from ...dynamics.optimizers import check_optimizer
from ...errors import ConfigError
from ...framework.config import require
from ...networks.resnet import ResNet


@dataclass
class Variant:
    """One ResNet family of a depth study: parametrization, block size, first-layer rate exponent ζ
    (the depth-aware correction) and optimizer (rates from the table in :mod:`mflab.conventions`)."""

    parametrization: str = "depth-mup"
    block_layers: int = 1
    first_layer_lr_exponent: float = 0.0
    optimizer: str = "sgd"

    @property
    def label(self) -> str:
        s = f"{self.parametrization}, {self.block_layers}-layer blocks"
        s += f", ζ={self.first_layer_lr_exponent:g}" if self.first_layer_lr_exponent else ""
        return s + (f", {self.optimizer}" if self.optimizer != "sgd" else "")

    def net(self, width: int, depth: int, activation: str) -> ResNet:
        return ResNet.create(width, depth, activation, self.parametrization, self.block_layers,
                             first_layer_lr_exponent=self.first_layer_lr_exponent)


def validate_variants(variants: list, activation: str):
    """Every variant builds a ResNet and names a known optimizer; errors name ``variants[i].field``."""
    require(len(variants) >= 1, "variants", "is empty", "list at least one variant")
    for i, v in enumerate(variants):
        try:
            v.net(8, 2, activation)
            check_optimizer(v.optimizer, "variants.optimizer")
        except ConfigError as e:
            raise ConfigError(f"variants[{i}].{e.field.split('.')[-1]}", e.problem, e.fix) from None
