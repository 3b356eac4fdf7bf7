r"""The reused-weight coupling of depth-μP ResNets: its size, and the effect of removing it.

Conditional-Gaussian split (§5.3 of ``shared/papers/C_infinite_depth_neural_feature_dynamics.md``,
one-layer blocks, full-batch SGD). At step k and layer ℓ let A_ℓ = [φ(h_{ℓ−1}(s, x)) : s ≤ k, x] be
the vectors W_ℓ(0) has multiplied in forward passes and C_ℓ = [ĝ_ℓ(s, x) : s < k, x] those W_ℓ(0)ᵀ
has multiplied in backward passes (ĝ_ℓ = n ∂f/∂h_ℓ). Then

    W(0)ᵀĝ = W(0)ᵀ P_C ĝ  +  P_A W(0)ᵀ P_C^⊥ ĝ  +  P_A^⊥ W(0)ᵀ P_C^⊥ ĝ,

the middle term c_ℓ(k) being the coupling: the conditional mean of W(0)ᵀ given the forward products.
Its accumulated effect on the input-layer backward vector is

    a_k = rms_{i,x} Σ_ℓ s φ′(h_{ℓ−1}) ⊙ c_ℓ(k) / √n,        s = a/√L,

reported with a null a_k^null: the same projections applied to an independent Gaussian W̃ (the
finite-n floor, ≈ √(dim A/n) in size). The paper claims the coupling is O(1/n) at initialisation and
that its effect on training is O(L⁻²); the notes' pilot found a_k − a_k^null not decaying in L, but
its effect on the outputs at the noise floor.

Ablation: training with c_ℓ(k) replaced by P_A W̃ᵀ P_C^⊥ ĝ at every layer and step (mode
``"ablate-coupling"`` of :class:`~mflab.networks.resnet.ResNet`). The *null ablation* swaps the same
way along a random subspace R of A's dimension (P_R W(0)ᵀ P_C^⊥ ĝ → P_R W̃ᵀ P_C^⊥ ĝ): a swap of equal
size that is not the conditional mean. The ablation effect is |f_T^std − f_T^abl| against the null's
|f_T^std − f_T^null|.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..dynamics.kernel import Guarded, Kernel, guard
from ..dynamics.objectives import TrainData
from ..dynamics.runner import advance
from ..errors import ConfigError
from ..networks.resnet import ResNet

SWAPS = ("none", "coupling", "null")


class HistoryState(NamedTuple):
    """A ResNet trained while keeping the histories the coupling split needs: every layer's forward inputs A,
    backward vectors C and the null's random columns R, the couplings a_k and a_k^null, and the outputs per step."""

    params: Any
    A: jax.Array  # (L, n, (T+1)P) forward inputs of every layer, step-major columns
    C: jax.Array  # (L, n, T P) backward vectors ĝ_ℓ
    R: jax.Array  # (L, n, (T+1)P) Gaussian columns spanning the null's random subspace
    coupling: jax.Array  # (T,) a_k
    coupling_null: jax.Array  # (T,) a_k^null
    outputs: jax.Array  # (T+1, P) f at every step
    k: jax.Array  # steps taken (the column offset of the histories)


class HistoryInfo(NamedTuple):
    """Per-step diagnostics of the history trainer: the training loss."""

    loss: jax.Array


def _masked_basis(M, count, rtol: float = 1e-7):
    """Orthonormal basis of the span of the first ``count`` columns of M (n, m): classical
    Gram–Schmidt with re-orthogonalisation (CGS2), column by column. Columns from ``count`` on, and
    columns dependent on earlier ones (residual below ``rtol`` of their norm), are zero, so the
    result projects onto exactly that span.

    Plain jnp ops on purpose: ``jnp.linalg.qr`` (a LAPACK custom call) inside these loops
    deadlocked XLA:CPU (jax 0.10.2, every thread parked on a futex) from n = 512, L = 16 on."""

    def body(j, Q):
        v = M[:, j]
        for _ in range(2):
            v = v - Q @ (Q.T @ v)
        nv = jnp.linalg.norm(v)
        keep = (j < count) & (nv > rtol * jnp.linalg.norm(M[:, j]))
        return Q.at[:, j].set(jnp.where(keep, v / jnp.where(keep, nv, 1.0), 0.0))

    return jax.lax.fori_loop(0, M.shape[1], body, jnp.zeros_like(M))


def history_train(net: ResNet, params, X, y, lr: float, steps: int, swap: str = "none", key=None) -> Guarded:
    """``steps`` full-batch SGD steps that keep the per-layer histories A, C and record a_k, a_k^null
    and the outputs. ``swap``: ``"none"`` (plain backprop), ``"coupling"`` (the ablation) or
    ``"null"`` (the null ablation, random subspace drawn from ``key``). Traceable (jit/vmap). The
    history kernel runs on the step protocol under the divergence guard (:mod:`mflab.dynamics.kernel`):
    the result is a guarded :class:`HistoryState` (``.params``, ``.coupling``, ``.outputs``, ``.alive``, ...)."""
    kernel, st0 = history_kernel(net, params, X, y, lr, steps, swap, key)
    kernel = guard(kernel)
    return advance(kernel, kernel.init(st0), None, None, None, steps)


def history_kernel(net: ResNet, params, X, y, lr: float, steps: int, swap: str = "none", key=None):
    """(kernel, initial HistoryState) of the history trainer: ``step(state, key, hyper, data)`` with the
    data, the rate and the history sizes fixed at construction (``hyper`` and ``data`` are unused)."""
    if swap not in SWAPS:
        raise ConfigError("swap", f"unknown swap '{swap}'", f"one of {list(SWAPS)}")
    if net.mode != "ablate-coupling" or net.block_layers != 1:
        raise ConfigError("mode", "the coupling measurements need mode 'ablate-coupling' (it carries the "
                          "independent W̃) and one-layer blocks", "ResNet.create(..., mode='ablate-coupling')")
    L, n, P = net.depth, net.width, X.shape[0]
    s, phi = net.branch_scale, net.activation.fn
    dphi = lambda u: jax.jvp(phi, (u,), (jnp.ones_like(u),))[1]  # noqa: E731  (φ' elementwise)
    data = TrainData(X, y, jnp.full(P, 1.0 / P, X.dtype))
    mult = net.lr_multipliers(params)
    key = jax.random.PRNGKey(0) if key is None else key
    R = jax.random.normal(key, (L, n, (steps + 1) * P), X.dtype)

    def f_sum(probes, p, sw):
        return jnp.sum(net.readout_scale * phi(net.features(p, X, swap=sw, probes=probes)) @ p.v)

    def loss_with_swap(p, sw):
        f = net.readout_scale * phi(net.features(p, X, swap=sw)) @ p.v
        return jnp.sum(data.weights * (f - y) ** 2)

    def step(st: HistoryState, _key, _hyper, _data):
        p, k = st.params, st.k
        z0 = jnp.zeros((), k.dtype)  # slice indices of one integer type (x64 mode)
        _, hs, _ = net.features(p, X, return_all=True)
        A = jax.lax.dynamic_update_slice(st.A, jnp.swapaxes(phi(hs[:-1]), 1, 2), (z0, z0, k * P))
        QA = jax.vmap(_masked_basis, (0, None))(A, (k + 1) * P)
        QR = jax.vmap(_masked_basis, (0, None))(st.R, (k + 1) * P)
        QC = jax.vmap(_masked_basis, (0, None))(st.C, k * P)
        sw = {"none": None, "coupling": (QA, QC), "null": (QR, QC)}[swap]
        loss, grads = jax.value_and_grad(loss_with_swap)(p, sw)
        g = n * jax.grad(f_sum)(jnp.zeros((L, P, n), X.dtype), p, sw)  # ĝ_ℓ(x), ℓ = 1..L: (L, P, n)
        gp = g - jnp.einsum("lpo,lor,lqr->lpq", g, QC, QC)  # P_C^⊥ ĝ (rows)

        def accumulated(Wm):  # rms of Σ_ℓ s φ'(h_{ℓ−1}) ⊙ P_A Wmᵀ P_C^⊥ ĝ / √n
            c = jnp.einsum("lpo,loi,lir,ljr->lpj", gp, Wm, QA, QA)
            return jnp.sqrt(jnp.mean(jnp.sum(s * dphi(hs[:-1]) * c / jnp.sqrt(n), axis=0) ** 2))

        a, a_null = accumulated(p.W0[0]), accumulated(p.Wb0[0])
        C = jax.lax.dynamic_update_slice(st.C, jnp.swapaxes(g, 1, 2), (z0, z0, k * P))
        p1 = jax.tree_util.tree_map(lambda th, gr, m: th - lr * m * gr if m else th, p, grads, mult)
        f1 = net.readout_scale * phi(net.features(p1, X)) @ p1.v
        return HistoryState(p1, A, C, st.R, st.coupling.at[k].set(a), st.coupling_null.at[k].set(a_null),
                            st.outputs.at[k + 1].set(f1), k + 1), HistoryInfo(loss)

    f0 = net.readout_scale * phi(net.features(params, X)) @ params.v
    st0 = HistoryState(params, jnp.zeros((L, n, (steps + 1) * P), X.dtype), jnp.zeros((L, n, max(steps, 1) * P), X.dtype),
                       R, jnp.zeros(steps, X.dtype), jnp.zeros(steps, X.dtype),
                       jnp.zeros((steps + 1, P), X.dtype).at[0].set(f0), jnp.zeros((), jnp.int32))
    return Kernel(lambda st: st, step), st0
