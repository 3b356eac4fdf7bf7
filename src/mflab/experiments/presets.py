"""Built-in experiments. A preset is a config class, a runner, full defaults and ``--quick``
overrides that fit a 2-core CPU in minutes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError, suggest
from . import sgld


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    config_cls: type
    run: Callable
    defaults: dict
    quick: dict


PRESETS: dict[str, Preset] = {}


def register(p: Preset):
    PRESETS[p.name] = p


register(Preset(
    "sgld-parity",
    "SGLD posterior of a two-layer ReLU net on k-sparse parity vs the NNGP-KRR prediction "
    "(full: d=35, k=4, N=512, the Bayesian study's schedule; GPU-scale)",
    sgld.SGLDExperimentConfig, sgld.run,
    defaults={
        "preset": "sgld-parity",
        "task": {"name": "parity", "d": 35, "k": 4, "n_train": [500, 1000, 2133], "n_test": 20_000},
        "network": {"width": 512, "activation": "relu", "parametrization": "ntk"},
        "sgld": {"kappa": [5e-3], "lr": 1e-3, "lr_final": 5e-4, "schedule": "polynomial", "decay_steps": 2_000_000,
                 "steps": 2_000_000, "log_every": 10_000, "chunk_steps": 100_000, "replicas": 3},
    },
    quick={
        "task": {"d": 12, "k": 4, "n_train": [50, 100, 200, 400, 800], "n_test": 4096},
        "network": {"width": 128},
        "sgld": {"kappa": [5e-3], "lr": 5e-2, "schedule": "constant", "steps": 20_000, "log_every": 250,
                 "chunk_steps": 5_000, "replicas": 2},
    },
))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset '{name}'", suggest(name, PRESETS) + "; list them with `mflab presets`")
    return PRESETS[name]
