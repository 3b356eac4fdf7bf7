r"""Coordinate checks: how far features move in a few GD steps, as width n and depth L vary.

For a ResNet (:mod:`mflab.networks.resnet`) trained by full-batch GD for ``steps`` steps at base
rate η (per-group rates from the parametrization table), the per-layer updates are

    Δh_ℓ = rms_{μ,i} [h_ℓ(x_μ; θ_T) − h_ℓ(x_μ; θ_0)]               (residual stream, ℓ = 0..L)
    Δz_ℓ^own = rms [ΔW⁽¹⁾_ℓ φ(h_{ℓ−1}(θ_0)) / √n]                (two-layer blocks: the first internal
                                                                   layer's own update, §5.5 of the notes)

plus Δf = rms_μ [f_T − f_0]. Under depth-μP, Δh_L and Δf are Θ(1) in n and L; Δz^own of two-layer
blocks decays like L^{-1/2} (the collapse) unless the depth-aware rate correction is on.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.resnet_training import train
from ..networks.resnet import ResNet


def feature_updates(net: ResNet, params, X, y, lr: float, steps: int = 1, optimizer: str = "sgd") -> dict:
    """Per-layer update sizes after ``steps`` full-batch steps (see the module docstring)."""

    @jax.jit
    def run(params):
        state = train(net, params, X, y, lr, steps, optimizer)
        p1 = state.params
        _, hs0, _ = net.features(params, X, return_all=True)
        _, hs1, _ = net.features(p1, X, return_all=True)
        rms = lambda a, axes: jnp.sqrt(jnp.mean(a**2, axis=axes))  # noqa: E731
        out = {"dh": rms(hs1 - hs0, (1, 2)), "df": rms(net.apply(p1, X) - net.apply(params, X), 0),
               "alive": state.alive, "diverged_at": state.diverged_at}
        if net.block_layers == 2:
            own = jnp.einsum("lpj,lij->lpi", net.activation.fn(hs0[:-1]), p1.dW[0] - params.dW[0]) / jnp.sqrt(net.width)
            out["dz_own"] = rms(own, (1, 2))
        return out

    return {k: np.asarray(v) for k, v in run(params).items()}


def coordinate_check(make_net, widths, depths, X, y, lr: float, steps: int = 1, seeds: int = 2,
                     key=None, optimizer: str = "sgd") -> list[dict]:
    """One row per (width, depth, seed): Δh at layer-time ½ and 1 (ℓ = L/2, L), Δf, and the mean
    Δz^own (two-layer blocks). ``make_net(width, depth) -> ResNet``; seed s initialises with
    ``fold_in(key, s)`` (default key: PRNGKey(0))."""
    key = jax.random.PRNGKey(0) if key is None else key
    rows = []
    for n in widths:
        for L in depths:
            net = make_net(n, L)
            for s in range(seeds):
                params = net.init(jax.random.fold_in(key, s), X.shape[1], X.dtype)
                u = feature_updates(net, params, X, y, lr, steps, optimizer)
                row = {"width": n, "depth": L, "seed": s, "dh_L": float(u["dh"][-1]), "df": float(u["df"]),
                       "dh_half": float(u["dh"][L // 2]), "alive": bool(u["alive"])}
                if "dz_own" in u:
                    row["dz_own"] = float(np.mean(u["dz_own"]))
                rows.append(row)
    return rows
