r"""Finite depth-μP ResNets next to the NFD simulator (:mod:`mflab.theory.nfd`): the same observables
per forward pass, and the width extrapolation that compares them.

Per pass t = 0 … T (pass t follows t full-batch GD steps at rate η·n, :mod:`mflab.dynamics.resnet_training`):

* f_t(x_μ), the outputs;
* Φ = φ(h_ℓ)φ(h_ℓ)ᵀ/n and K^h = h_ℓ h_ℓᵀ/n at the chosen layers and at ℓ = L;
* G₀ = ĝ_0 ĝ_0ᵀ/n, ĝ_0 = n ∂f/∂h_0 through the network's own backward pass (so the decoupled
  network reports its decoupled gradient), read off the input layer:
  ∂f_ν/∂U = (∂f_ν/∂h_0(ν)) x_νᵀ/√d, hence ĝ_0(ν) = n √d (∂f_ν/∂U) x_ν / |x_ν|².

Width extrapolation: a finite network's observable is O_∞ + c/n + (noise of size n^{-1/2} per seed), so
a weighted least-squares fit of the seed means against 1/n gives O_∞ with a standard error; the
simulator's value is compared with it in units of the combined standard error.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.objectives import TrainData
from ..dynamics.resnet_training import train_kernel
from ..dynamics.runner import trajectory
from ..errors import ConfigError
from ..networks.resnet import ResNet

NETWORK_MODES = ("backprop", "decoupled", "ablate-coupling")


def network_observables(net: ResNet, params, X, layers: tuple) -> dict:
    """f, Φ, K^h (at ``layers`` then L) and G₀ of one network on inputs X (P, d)."""
    _, hs, _ = net.features(params, X, return_all=True)
    H = hs[jnp.asarray(tuple(layers) + (net.depth,))]  # (k, P, n)
    Ph = net.activation.fn(H)
    f = net.readout_scale * Ph[-1] @ params.v
    jac = jax.jacrev(lambda U: net.apply(params._replace(U=U), X))(params.U)  # (P, n, d)
    g0 = net.width * jnp.sqrt(X.shape[1]) * jnp.einsum("pnd,pd->pn", jac, X) / jnp.sum(X**2, axis=1)[:, None]
    n = net.width
    return {"f": f, "Phi": jnp.einsum("kpn,kqn->kpq", Ph, Ph) / n, "Kh": jnp.einsum("kpn,kqn->kpq", H, H) / n,
            "G0": g0 @ g0.T / n}


def network_trajectories(net: ResNet, X, y, lr: float, steps: int, keys, layers: tuple = ()) -> dict:
    """Observables at passes 0 … steps of one network per row of ``keys`` (vmapped): arrays
    (seeds, steps+1, ...), and ``alive`` (seeds,) — False where a GD step diverged (that seed's later
    passes repeat its last finite state).

    Mode ``"ablate-coupling"`` trains through the history trainer
    (:func:`mflab.analysis.reused_weight_coupling.history_train`), which keeps the outputs of every
    pass; its kernels are recorded at pass 0 and at the last pass only (NaN between), and G₀ not at
    all (the ablated backward pass needs the training history; NaN)."""
    if net.mode not in NETWORK_MODES or net.block_layers != 1:
        raise ConfigError("mode", f"the NFD comparison trains one-layer-block networks in modes {NETWORK_MODES}, "
                          f"got mode '{net.mode}' with {net.block_layers}-layer blocks",
                          "use mode 'backprop', 'decoupled' or 'ablate-coupling' and block_layers = 1")
    return {k: np.asarray(v) for k, v in _trajectories_fn(net, int(steps), tuple(layers))(X, y, jnp.asarray(lr, X.dtype),
                                                                                        keys).items()}


@functools.lru_cache(maxsize=32)
def _trajectories_fn(net: ResNet, steps: int, layers: tuple):
    """One compiled function per (network, steps, layers): repeated calls (seed batches, benchmarks) reuse it."""
    if net.mode == "ablate-coupling":
        from .reused_weight_coupling import history_train

        def ablated(key, X, y, lr):
            params = net.init(key, X.shape[1], X.dtype)
            st = history_train(net, params, X, y, lr, steps, swap="coupling")
            first, last = (network_observables(net, p, X, layers) for p in (params, st.params))
            out = {}
            for k in ("Phi", "Kh"):
                mid = jnp.full((max(steps - 1, 0),) + first[k].shape, jnp.nan, X.dtype)
                out[k] = jnp.concatenate([first[k][None], mid, last[k][None]])[:steps + 1]
            out["G0"] = jnp.full((steps + 1,) + first["G0"].shape, jnp.nan, X.dtype)
            out["f"] = st.state.outputs
            out["alive"] = st.alive
            return out

        # seeds run sequentially (lax.map): vmapping the history trainer's loops hung XLA:CPU (jax 0.10.2)
        return jax.jit(lambda X, y, lr, keys: jax.lax.map(lambda k: ablated(k, X, y, lr), keys))

    def one(key, X, y, lr):
        data = TrainData(X, y, jnp.full(X.shape[0], 1.0 / X.shape[0], X.dtype))
        params = net.init(key, X.shape[1], X.dtype)
        kernel = train_kernel(net, params)
        obs = lambda p: network_observables(net, p, X, layers)  # noqa: E731
        st, recs = trajectory(kernel, kernel.init(params), None, lr, data, steps, record=lambda s, info: obs(s.params))
        first = obs(params)
        out = {k: jnp.concatenate([first[k][None], recs[k]]) for k in first}
        out["alive"] = st.alive
        return out

    return jax.jit(lambda X, y, lr, keys: jax.vmap(one, in_axes=(0, None, None, None))(keys, X, y, lr))


def width_extrapolation(widths, values) -> dict:
    """Fit seed means m(n) = O_∞ + c/n, weighted by their standard errors. ``values[i]``: (seeds, ...) at
    width ``widths[i]``. Returns ``limit``, ``limit_se``, ``slope`` (c) and per-width ``mean``/``se``
    (arrays of the observable's shape)."""
    inv = 1.0 / np.asarray(widths, float)
    means = np.stack([np.mean(v, axis=0) for v in values])
    ses = np.stack([np.std(v, axis=0, ddof=1) / np.sqrt(len(v)) for v in values])
    w = 1.0 / np.maximum(ses, 1e-12) ** 2  # (k, ...)
    x = inv.reshape(-1, *[1] * (means.ndim - 1))
    Sw, Sx, Sxx = w.sum(0), (w * x).sum(0), (w * x**2).sum(0)
    Sy, Sxy = (w * means).sum(0), (w * x * means).sum(0)
    det = Sw * Sxx - Sx**2
    limit = (Sxx * Sy - Sx * Sxy) / det
    slope = (Sw * Sxy - Sx * Sy) / det
    return {"limit": limit, "limit_se": np.sqrt(Sxx / det), "slope": slope, "mean": means, "se": ses}
