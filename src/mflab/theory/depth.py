r"""Infinite-width, finite-depth feature covariance of a pre-activation ResNet at initialisation,
and its depth limit.

At n → ∞ and initialisation the branch outputs of one-layer blocks are independent Gaussians, so
the covariance Σ_ℓ(x, x') = E[h_ℓ(x) h_ℓ(x')] of the residual stream follows (§5.1 of
``shared/papers/C_infinite_depth_neural_feature_dynamics.md``)

    Σ_0 = X Xᵀ / d,      Σ_ℓ = Σ_{ℓ−1} + s² E_{u~N(0, Σ_{ℓ−1})}[φ(u) φ(u)ᵀ],     s = a / L^β.

Under depth-μP (β = ½) this is the Euler scheme, with step 1/L, for the layer-time ODE
dΣ/dτ = a² E[φφᵀ] on τ ∈ [0, 1], so Σ_L converges to Σ(1) at rate O(1/L). (Two-layer blocks
replace E[φφᵀ] by the NNGP map of the inner layer; only one-layer blocks are implemented here.)

The 2 × 2 Gaussian expectations use a tensor Gauss–Hermite rule (float64, numpy): a reference
that is independent of the network code.

Backward pass and tangent kernel at initialisation (the NFD system of §2.3 at training step 0)
----------------------------------------------------------------------------------------------
With ĝ_ℓ = n ∂f/∂h_ℓ and f = (1/n) vᵀφ(h_L) (ρ = 1), the backward kernel Γ_ℓ = ĝ_ℓ ĝ_ℓᵀ/n obeys, at
infinite width and under the gradient-independence assumption (exact at init, Yang 2020),

    Γ_L = E[φ'φ'ᵀ](Σ_L),      Γ_{ℓ−1} = Γ_ℓ ⊙ (1 + s² E[φ'φ'ᵀ](Σ_{ℓ−1})),

(⊙: entrywise over input pairs), the Euler scheme of the backward ODE dΓ/dτ = −a² E[φ'φ'ᵀ](Σ(τ)) ⊙ Γ.
The tangent kernel of SGD at rates η·n on every group (depth-μP, Form A) is then

    K = Φ_L + Γ_0 ⊙ X Xᵀ/d + s² Σ_{ℓ=1}^{L} Φ_{ℓ−1} ⊙ Γ_ℓ,        Φ_ℓ = E[φφᵀ](Σ_ℓ),

readout, input layer and hidden layers; its depth limit is Φ(1) + Γ(0) ⊙ XXᵀ/d + a² ∫₀¹ Φ Γ dτ. One
SGD step moves the outputs by −η K χ + O(η²), χ = ∂loss/∂f. This is the part of the NFD limit that
is determined at initialisation; the training steps are simulated by :mod:`mflab.theory.nfd`, whose
pass 0 equals these recursions (tested).
"""
from __future__ import annotations

import numpy as np

from ..maths.hermite import gauss_hermite


def gaussian_phi_covariance(phi, Sigma: np.ndarray, n_nodes: int = 48) -> np.ndarray:
    """E_{u~N(0, Σ)}[φ(u_i) φ(u_j)] for every pair (i, j), by 2-D Gauss–Hermite quadrature (pass φ'
    for the derivative kernel)."""
    z, w = gauss_hermite(n_nodes)
    Z1, Z2 = np.meshgrid(z, z, indexing="ij")
    W2 = np.outer(w, w)
    S = np.asarray(Sigma, float)
    out = np.empty_like(S)
    for i in range(len(S)):
        for j in range(i, len(S)):
            a = np.sqrt(max(S[i, i], 0.0))
            if a == 0.0:
                out[i, j] = out[j, i] = float(phi(np.zeros(1))[0] * np.sum(w * phi(np.sqrt(S[j, j]) * z)))
                continue
            b = S[i, j] / a  # u_i = a z1, u_j = b z1 + c z2 (Cholesky of the 2 × 2 block)
            c = np.sqrt(max(S[j, j] - b * b, 0.0))
            out[i, j] = out[j, i] = float(np.sum(W2 * phi(a * Z1) * phi(b * Z1 + c * Z2)))
    return out


def resnet_init_covariance(phi, X: np.ndarray, depth: int, branch_scale: float, n_nodes: int = 48) -> np.ndarray:
    """Σ_L of the infinite-width ResNet at initialisation (the recursion in the module docstring)."""
    X = np.asarray(X, float)
    S = X @ X.T / X.shape[1]
    for _ in range(int(depth)):
        S = S + branch_scale**2 * gaussian_phi_covariance(phi, S, n_nodes)
    return S


def depth_limit_covariance(phi, X: np.ndarray, branch_multiplier: float = 1.0, depth_ref: int = 4096,
                           n_nodes: int = 48) -> np.ndarray:
    """Σ(1) of the layer-time ODE, by Richardson extrapolation of two Euler solutions:
    2 Σ_{2L} − Σ_L with L = ``depth_ref`` / 2 (error O(L^{-2}))."""
    half = resnet_init_covariance(phi, X, depth_ref // 2, branch_multiplier / np.sqrt(depth_ref // 2), n_nodes)
    full = resnet_init_covariance(phi, X, depth_ref, branch_multiplier / np.sqrt(depth_ref), n_nodes)
    return 2 * full - half


def resnet_init_ntk(phi, dphi, X: np.ndarray, depth: int, branch_scale: float, n_nodes: int = 48) -> np.ndarray:
    """Infinite-width tangent kernel K of a one-layer-block ResNet at init (module docstring), for the
    Form-A readout f = (1/n) vᵀφ(h_L) and SGD rates η·n on U, W, v. ``dphi`` is φ'."""
    X = np.asarray(X, float)
    S = X @ X.T / X.shape[1]
    Phis = []
    dPhis = []
    for ell in range(int(depth) + 1):
        Phis.append(gaussian_phi_covariance(phi, S, n_nodes))
        dPhis.append(gaussian_phi_covariance(dphi, S, n_nodes))
        if ell < depth:
            S = S + branch_scale**2 * Phis[-1]
    G = dPhis[-1]
    K = Phis[-1].copy()
    for ell in range(int(depth), 0, -1):  # G = Γ_ℓ
        K += branch_scale**2 * Phis[ell - 1] * G
        G = G * (1 + branch_scale**2 * dPhis[ell - 1])
    return K + G * (X @ X.T / X.shape[1])


def depth_limit_ntk(phi, dphi, X: np.ndarray, branch_multiplier: float = 1.0, depth_ref: int = 1024,
                    n_nodes: int = 32) -> np.ndarray:
    """The depth limit of :func:`resnet_init_ntk` (Richardson extrapolation of L = depth_ref/2, depth_ref)."""
    half = resnet_init_ntk(phi, dphi, X, depth_ref // 2, branch_multiplier / np.sqrt(depth_ref // 2), n_nodes)
    full = resnet_init_ntk(phi, dphi, X, depth_ref, branch_multiplier / np.sqrt(depth_ref), n_nodes)
    return 2 * full - half
