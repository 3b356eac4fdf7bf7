"""Configuration sections shared by experiments, and the builders that turn them into objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...conventions import TEMPERATURE_CONVENTIONS, get_parametrization
from ...dynamics.langevin import NOISE_MODES
from ...dynamics.schedules import SCHEDULES
from ...errors import ConfigError, suggest
from ...networks.activations import get_activation
from ...networks.two_layer import TwoLayer
from ...tasks import SparseParity, multi_index, single_index
from ...framework.config import require

TASKS = ("parity", "single-index", "multi-index")


@dataclass
class TaskConfig:
    """``name``: parity | single-index | multi-index. ``n_train`` is a grid axis (nested subsets
    of one training set per replica)."""

    name: str = "parity"
    d: int = 35
    k: int = 4
    degree: int = 4  # Hermite degree p (single-index) ...
    degrees: Optional[list[int]] = None  # ... or one degree per direction (multi-index)
    normalized: bool = False  # Hermite links: He_p (False, as in the study) or h_p = He_p/√p! (unit variance)
    support: Optional[list[int]] = None
    n_train: list[int] | int = field(default_factory=lambda: [2000])
    n_test: int = 10_000
    label_noise: float = 0.0

    def validate(self):
        if self.name not in TASKS:
            raise ConfigError("task.name", f"unknown task '{self.name}'", suggest(self.name, TASKS))
        for i, P in enumerate(self.n_train):
            require(P >= 1, f"task.n_train[{i}]", f"must be >= 1, got {P}", "sample sizes are positive")
        require(self.n_test >= 1, "task.n_test", f"must be >= 1, got {self.n_test}", "e.g. n_test = 10000")
        require(self.label_noise >= 0, "task.label_noise", f"must be >= 0, got {self.label_noise}", "0 for clean labels")
        build_task(self)  # checks d, k, support, degree


def build_task(cfg: TaskConfig):
    if cfg.name == "parity":
        return SparseParity(cfg.d, cfg.k, None if cfg.support is None else tuple(cfg.support))
    if cfg.name == "single-index":
        return single_index(cfg.d, cfg.k, cfg.degree, cfg.support, cfg.normalized)
    degrees = cfg.degrees or [cfg.degree] * cfg.k
    if len(degrees) != cfg.k:
        raise ConfigError("task.degrees", f"needs k = {cfg.k} entries, got {len(degrees)}", "one degree per direction")
    return multi_index(cfg.d, degrees, cfg.support, cfg.normalized)


@dataclass
class NetworkConfig:
    """Two-layer network f = N^{-γ} Σ a_i φ(w_i·x + b_i); see mflab.conventions."""

    width: int = 512
    activation: str = "relu"
    parametrization: str = "ntk"
    gamma: Optional[float] = None  # overrides the table's γ
    sigma_a: float = 1.0
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    bias: bool = False

    def validate(self):
        get_activation(self.activation)
        get_parametrization(self.parametrization)
        build_network(self)


def check_representable(task_cfg: TaskConfig, net_cfg: NetworkConfig):
    """A bias-free ReLU/GELU/SiLU-type network has a linear odd part (their Hermite/Taylor odd
    coefficients vanish beyond degree 1 for ReLU), so on the hypercube it cannot represent an odd
    parity of order k >= 3: the posterior overlap is exactly zero. Refuse that combination."""
    if (task_cfg.name == "parity" and task_cfg.k % 2 == 1 and task_cfg.k >= 3 and not net_cfg.bias
            and net_cfg.activation == "relu"):
        raise ConfigError("task.k", f"a bias-free ReLU network cannot represent an odd parity (k = {task_cfg.k}): "
                          "relu(z) = z/2 + |z|/2 has a linear odd part",
                          "use an even k, set network.bias = true, or an odd activation such as erf")


def build_network(cfg: NetworkConfig) -> TwoLayer:
    return TwoLayer.create(cfg.width, cfg.activation, cfg.parametrization, cfg.gamma, cfg.sigma_a, cfg.sigma_w,
                           cfg.sigma_b, cfg.bias)


@dataclass
class SGLDConfig:
    """Langevin sampler: θ ← θ − η[(T/σ²)θ + ∇L] + √(2Tη)ξ, T from ``kappa`` by
    ``temperature_convention`` (T = 2κ² for "kappa"). ``kappa`` is a grid axis."""

    kappa: list[float] | float = field(default_factory=lambda: [5e-3])
    temperature_convention: str = "kappa"
    lr: float = 1e-3
    lr_final: Optional[float] = None
    schedule: str = "constant"
    decay_steps: Optional[int] = None
    power: float = 2.0
    steps: int = 10_000
    log_every: int = 500
    chunk_steps: int = 10_000
    batch_size: Optional[int] = None  # None: full batch
    replicas: int = 1  # independent (dataset, init) chains per grid point
    noise: str = "independent"
    chain_batch: int = 0  # 0: automatic (1 on CPU, all chains on accelerators)
    burn_in_fraction: float = 0.5  # posterior averages use the logged points after this fraction

    def validate(self):
        for i, k in enumerate(self.kappa):
            require(k >= 0, f"sgld.kappa[{i}]", f"noise must be >= 0, got {k}", "use kappa >= 0 (0 is noiseless GD)")
        if self.temperature_convention not in TEMPERATURE_CONVENTIONS:
            raise ConfigError("sgld.temperature_convention", f"unknown convention '{self.temperature_convention}'",
                              suggest(self.temperature_convention, TEMPERATURE_CONVENTIONS))
        require(self.lr > 0, "sgld.lr", f"must be > 0, got {self.lr}", "e.g. lr = 1e-3")
        require(self.lr_final is None or self.lr_final > 0, "sgld.lr_final", "must be > 0", "e.g. lr_final = 5e-4")
        if self.schedule not in SCHEDULES:
            raise ConfigError("sgld.schedule", f"unknown schedule '{self.schedule}'", suggest(self.schedule, SCHEDULES))
        if self.schedule != "constant":
            require(self.decay_steps is not None and self.decay_steps >= 1, "sgld.decay_steps",
                    f"a '{self.schedule}' schedule needs decay_steps >= 1", "e.g. decay_steps = 20000")
        require(self.steps >= 1, "sgld.steps", f"must be >= 1, got {self.steps}", "e.g. steps = 10000")
        require(self.log_every >= 1, "sgld.log_every", f"must be >= 1, got {self.log_every}", "e.g. log_every = 500")
        require(self.steps % self.log_every == 0, "sgld.steps",
                f"{self.steps} is not a multiple of log_every = {self.log_every}",
                f"use steps = {max(1, round(self.steps / self.log_every)) * self.log_every}")
        require(self.chunk_steps >= 1, "sgld.chunk_steps", "must be >= 1", "e.g. chunk_steps = 10000")
        require(self.batch_size is None or self.batch_size >= 1, "sgld.batch_size", "must be >= 1",
                "omit it for full batch")
        require(self.replicas >= 1, "sgld.replicas", f"must be >= 1, got {self.replicas}", "e.g. replicas = 3")
        if self.noise not in NOISE_MODES:
            raise ConfigError("sgld.noise", f"unknown noise mode '{self.noise}'", suggest(self.noise, NOISE_MODES))
        require(self.chain_batch >= 0, "sgld.chain_batch", "must be >= 0", "0 chooses automatically")
        require(0 <= self.burn_in_fraction < 1, "sgld.burn_in_fraction", "must be in [0, 1)", "e.g. 0.5")
