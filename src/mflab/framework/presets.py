"""Built-in experiments. A preset is a config class, a runner, full defaults and ``--quick``
overrides that fit a 2-core CPU in minutes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError, suggest
from . import chaos_rate, depth, error_decomposition, sparse_atoms, depth_coupling, depth_limit, depth_transfer, phase, sgld


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    config_cls: type
    run: Callable
    defaults: dict
    quick: dict
    # result tables a sweep gathers (results/<name>.csv), each with the columns that index its rows
    tables: dict = field(default_factory=dict)


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
    tables={"points": ("n_train", "kappa")},
))


_PUBLISHED_P = [10, 100, 500, 750, 1000, 2133, 3666, 5000, 7500, 10000]
_PUBLISHED_KAPPA = [5e-4, 1e-3, 5e-3, 7.5e-3, 1e-2, 2.5e-2, 5e-2, 7.5e-2]

register(Preset(
    "parity-phase",
    "flagship: feature-learning phase diagram of 4-sparse parity over (P, κ) for SGLD, MF, MF-ARD and "
    "NNGP-KRR (full: the published d=35, N=512 grid with 3 seeds; GPU-scale, resumable)",
    phase.PhaseConfig, phase.run,
    defaults={
        "preset": "parity-phase", "main_kappa": 5e-3,
        "task": {"name": "parity", "d": 35, "k": 4, "n_train": _PUBLISHED_P, "n_test": 100_000},
        "network": {"width": 512, "activation": "relu", "parametrization": "ntk", "sigma_a": 1.0, "sigma_w": 1.0},
        "sgld": {"kappa": _PUBLISHED_KAPPA, "lr": 1e-3, "lr_final": 5e-4, "schedule": "polynomial",
                 "decay_steps": 2_000_000, "steps": 4_000_000, "log_every": 20_000, "chunk_steps": 200_000,
                 "replicas": 3},
        "mf": {"particles": 512, "inner_steps": 10, "lr": 0.5, "iterations": 20_000, "chunk_iterations": 500,
               "alpha0": 8.0},
    },
    quick={
        "task": {"d": 12, "k": 4, "n_train": [25, 50, 100, 200, 400, 800], "n_test": 4096},
        "network": {"width": 128},
        "sgld": {"kappa": [2e-3, 5e-3, 2e-2], "lr": 5e-2, "schedule": "constant", "steps": 20_000, "log_every": 500,
                 "chunk_steps": 5_000, "replicas": 2},
        "mf": {"particles": 128, "inner_steps": 10, "lr": 2.0, "iterations": 1_500, "chunk_iterations": 50},
    },
    tables={"points": ("method", "n_train", "kappa", "replica")},
))

register(Preset(
    "hermite-index",
    "single-index target He_4(v·x), v on k=2 of d=18 Gaussian coordinates: SGLD vs MF-ARD learning curves",
    phase.PhaseConfig, phase.run,
    defaults={
        "preset": "hermite-index", "methods": ["sgld", "mf-ard", "krr"], "main_kappa": 1e-1,
        "task": {"name": "single-index", "d": 18, "k": 2, "degree": 4,
                 "n_train": [50, 100, 1000, 5000, 10000, 25000], "n_test": 20_000},
        "network": {"width": 1024, "activation": "relu", "parametrization": "ntk", "sigma_w": 0.5 ** 0.5},
        "sgld": {"kappa": [1e-1], "lr": 1e-2, "lr_final": 5e-4, "schedule": "polynomial", "decay_steps": 2_500_000,
                 "steps": 4_000_000, "log_every": 20_000, "chunk_steps": 200_000, "replicas": 4},
        "mf": {"particles": 1024, "lr": 0.5, "iterations": 20_000, "chunk_iterations": 500, "alpha0": 0.1},
    },
    quick={
        "task": {"d": 8, "k": 2, "n_train": [50, 100, 200, 400, 800], "n_test": 4096},
        "network": {"width": 128},
        "sgld": {"lr": 2e-2, "schedule": "constant", "steps": 20_000, "log_every": 500, "chunk_steps": 5_000,
                 "replicas": 2},
        "mf": {"particles": 128, "iterations": 1_000, "chunk_iterations": 100},
    },
    tables={"points": ("method", "n_train", "kappa", "replica")},
))


register(Preset(
    "depth-coordinate-check",
    "ResNet feature updates after GD vs depth L and width n for SP, muP, depth-muP, two-layer blocks "
    "and the depth-aware first-layer rate (seconds to minutes on CPU)",
    depth.CoordinateCheckConfig, depth.run,
    defaults={"preset": "depth-coordinate-check", "widths": [128, 256, 512], "depths": [2, 4, 8, 16, 32, 64, 128],
              "seeds": 4},
    quick={"widths": [64, 128, 256], "depths": [2, 4, 8, 16, 32, 64], "seeds": 2},
    tables={"points": ("variant", "width", "depth", "seed")},
))


register(Preset(
    "depth-limit",
    "depth-muP ResNets: coupled coarse/fine increments of outputs and kernels vs depth, at init and after GD, "
    "with log-log slopes (expected -1) and seed-bootstrap intervals",
    depth_limit.DepthLimitConfig, depth_limit.run,
    defaults={"preset": "depth-limit", "width": 1024, "depths": [1, 2, 4, 8, 16, 32], "seeds": 128, "seed_batch": 16},
    quick={"width": 256, "depths": [1, 2, 4, 8, 16], "seeds": 48},
    tables={"levels": ("stage", "observable", "depth")},
))


register(Preset(
    "depth-coupling",
    "the reused-weight coupling of depth-muP ResNets: its size in the backward pass and the effect of removing it "
    "on the outputs, vs depth and width, each against a null swap",
    depth_coupling.DepthCouplingConfig, depth_coupling.run,
    defaults={"preset": "depth-coupling", "widths": [256, 512, 1024], "depths": [2, 4, 8, 16, 32, 64], "seeds": 32},
    quick={"widths": [128, 256, 512], "depths": [2, 4, 8, 16, 32], "seeds": 8},
    tables={"points": ("width", "depth", "seed", "step")},
))


register(Preset(
    "depth-transfer",
    "learning-rate transfer across depth: train loss vs rate, one curve per depth, for SP, depth-muP and "
    "depth-muP with the depth-aware first-layer rate (two-layer blocks; digits and a teacher); optimum drift",
    depth_transfer.DepthTransferConfig, depth_transfer.run,
    defaults={"preset": "depth-transfer", "width": 256, "depths": [2, 4, 8, 16, 32, 64], "steps": 500, "seeds": 3,
              "n_train": 1024},
    quick={"width": 64, "depths": [2, 4, 8, 16], "steps": 100, "seeds": 2, "n_train": 256},
    tables={"points": ("task", "variant", "depth", "lr", "seed"), "optima": ("task", "variant", "depth")},
))


register(Preset(
    "chaos-rate",
    "propagation of chaos of muP mean-field Langevin dynamics: synchronously coupled N-particle systems vs an "
    "M_ref reference, coupling and function-gap rates in N with replica CIs (expected -1), W2 diagnostics",
    chaos_rate.ChaosRateConfig, chaos_rate.run,
    defaults={"preset": "chaos-rate", "widths": [64, 128, 256, 512, 1024, 2048], "m_ref": 8192, "replicas": 16},
    quick={"widths": [64, 128, 256, 512], "m_ref": 4096, "replicas": 16},
    tables={"points": ("N", "replica", "t"), "rates": ("metric", "t")},
))


register(Preset(
    "sparse-atoms",
    "sparse-dictionary decomposition of the long-time mean-field measure: atoms of the particle cloud vs weight "
    "decay (the staircase), against the closed-form S_up and the Frank-Wolfe support of the TV problem",
    sparse_atoms.SparseAtomsConfig, sparse_atoms.run,
    defaults={"preset": "sparse-atoms", "width": 1024, "steps": 20000, "lams": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6]},
    quick={"width": 256, "steps": 4000, "lams": [0.02, 0.1, 0.2, 0.4, 0.6]},
    tables={"atoms": ("lam",)},
))


register(Preset(
    "error-decomposition",
    "four-way split of the muP mean-field error into chaos, optimisation, statistical and residual parts with "
    "exact cross terms; fitted scalings in N, t, n; the unrealizable Hermite tail and its independence of the init",
    error_decomposition.ErrorDecompositionConfig, error_decomposition.run,
    defaults={"preset": "error-decomposition", "widths": [128, 256, 512, 1024], "n_train": [256, 1024, 4096, 16384],
              "m_ref": 4096, "m_pop": 2000, "replicas": 5, "steps": 5000, "log_every": 500},
    quick={"widths": [64, 128, 256], "n_train": [128, 512, 2048], "m_ref": 1024, "m_pop": 512, "replicas": 3},
    tables={"table": ("n", "N", "replica", "t")},
))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset '{name}'", suggest(name, PRESETS) + "; list them with `mflab presets`")
    return PRESETS[name]
