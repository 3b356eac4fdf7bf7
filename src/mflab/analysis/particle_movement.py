r"""Coordinate check for two-layer networks: how far each neuron (particle) moves in training.

For every width N, ``steps`` full-batch gradient steps (T = 0, the Langevin kernel without noise) at
base rate η with the parametrization's learning-rate multipliers, then per particle
|θ_i(t) − θ_i(0)|, θ_i = (a_i, w_i). Under μP (f = (1/N)Σ, rates ηN) every particle moves Θ(1) in N:
feature learning. Under NTK scaling (f = N^{-1/2}Σ, rates η) it moves O(N^{-1/2}): the lazy regime.
Reported: the rms and max over particles (seed means), the output movement, and log-log slopes in N.

Works for any family of :class:`~mflab.networks.two_layer.TwoLayer` networks: pass
``make_net(parametrization_label, N)``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.kernel import guard
from ..dynamics.sgld import Hyper, langevin
from ..dynamics.runner import advance
from ..dynamics.objectives import TrainData, mse_objective
from ..dynamics.schedules import constant
from ..networks.two_layer import TwoLayer
from .fits import loglog_slope


def gd_movement(net: TwoLayer, X, y, lr: float, steps: int, keys) -> dict:
    """Per-seed movement of ``steps`` GD steps from the prior: rms_i and max_i |θ_i(t) − θ_i(0)| and
    the rms output movement on X, arrays over ``keys``."""
    kernel = guard(langevin(mse_objective(net), net.prior_variances(X.shape[1])._replace(W=None, a=None, b=None),
                            constant(), net.lr_multipliers(), noise="none"))
    data = TrainData(X, y, jnp.full(X.shape[0], 1.0 / X.shape[0], X.dtype))
    hyper = Hyper(jnp.zeros((), X.dtype), jnp.asarray(lr, X.dtype))

    def one(key):
        p0 = net.init(key, X.shape[1])
        st = advance(kernel, kernel.init(p0), key, hyper, data, steps)
        d = jnp.sqrt(jnp.sum((st.params.W - p0.W) ** 2, -1) + (st.params.a - p0.a) ** 2)
        df = net.apply(st.params, X) - net.apply(p0, X)
        return {"rms_movement": jnp.sqrt(jnp.mean(d**2)), "max_movement": jnp.max(d),
                "output_movement": jnp.sqrt(jnp.mean(df**2)), "alive": st.alive}

    return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one))(keys).items()}


def particle_movement(make_net: Callable[[str, int], TwoLayer], labels, widths, X, y, lr: float, steps: int = 10,
                      seeds: int = 4, key=None) -> tuple[list[dict], dict]:
    """Rows (label, N, seed-mean movements) and, per label, the log-log slopes in N of the rms and
    max particle movement (μP expects 0, NTK −½)."""
    key = jax.random.PRNGKey(0) if key is None else key
    rows = []
    for label in labels:
        for n in widths:
            m = gd_movement(make_net(label, n), X, y, lr, steps, jax.random.split(jax.random.fold_in(key, n), seeds))
            rows.append({"parametrization": label, "N": int(n), "seeds": seeds, "alive": bool(m.pop("alive").all()),
                         **{k: float(v.mean()) for k, v in m.items()}})
    slopes = {}
    for label in labels:
        sel = [r for r in rows if r["parametrization"] == label]
        slopes[label] = {k: loglog_slope([r["N"] for r in sel], [r[k] for r in sel])
                         for k in ("rms_movement", "max_movement", "output_movement")}
    return rows, slopes
