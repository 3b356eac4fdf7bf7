"""How exact the float32 readout draw is at paper B's smallest κ (issue 16): the draw's mean and the precision its
factor implies, against a float64 numpy reference, for a random and a learned first layer, P > N and P < N.

Errors are in units of the conditional's own standard deviations: the mean's error whitened by the exact
precision (max over directions), and the eigenvalue range of R⁻¹ Λ R⁻ᵀ (1 when the draw's covariance is exact).
The learned first layer is a committed run's final weights (``metastability_p750/M4-prior``, whose npz is
kept locally only: the rows that need it are skipped when it is absent). Results: docs/samplers.md.

    python scripts/readout_draw_precision.py
"""
import os

import jax
import jax.numpy as jnp
import numpy as np

from mflab.conventions import temperature
from mflab.dynamics import TrainData, readout_conditional
from mflab.networks import TwoLayer

LEARNED = "docs/validation/published_parity/metastability_p750/M4-prior/results/final_params.npz"


def compare(net, W, X, y, kappa, var) -> str:
    """One line: Λ's condition number, whether the float32 factor is finite, the whitened error of the mean and
    the eigenvalue range of R⁻¹ Λ R⁻ᵀ, against float64 numpy."""
    P, N, T = X.shape[0], W.shape[0], temperature(kappa)
    params = net.init(jax.random.key(1), X.shape[1])._replace(W=W)
    mean, R = readout_conditional(net, params, TrainData(X, y, jnp.full(P, 1.0 / P)), T, var)
    Phi = N ** -0.5 * np.maximum(np.asarray(X, np.float64) @ np.asarray(W, np.float64).T, 0)
    Lam = 2 / T * Phi.T @ (Phi / P) + np.eye(N) / var.a
    mu = np.linalg.solve(Lam, 2 / T * Phi.T @ (np.asarray(y, np.float64) / P))
    Rn, ev = np.asarray(R, np.float64), np.linalg.eigvalsh(Lam)
    if not np.all(np.isfinite(Rn)):
        return f"cond {ev[-1] / ev[0]:.2e}, the float32 factor is not finite"
    err = np.abs(np.linalg.cholesky(Lam).T @ (np.asarray(mean, np.float64) - mu)).max()
    Wm = np.linalg.solve(Rn, np.linalg.solve(Rn, Lam).T)
    lo, hi = np.linalg.eigvalsh((Wm + Wm.T) / 2)[[0, -1]]
    return f"cond {ev[-1] / ev[0]:.2e}, mean error {err:.3f} s.d., R^-1 Lam R^-T eigenvalues [{lo:.3f}, {hi:.3f}]"


def main():
    d, N, P = 35, 512, 2133
    net = TwoLayer.create(N, "relu", "ntk", gamma=0.5)
    X = jnp.sign(jax.random.normal(jax.random.key(0), (P, d)))
    y = jnp.prod(X[:, :4], axis=1)
    var = net.prior_variances(d)
    layers = [("random", net.init(jax.random.key(1), d).W)]
    if os.path.exists(LEARNED):
        layers += [(f"learned (seed {r})", jnp.asarray(np.load(LEARNED)["W"][r])) for r in range(3)]
    for n_train in (2133, 500, 100):
        for label, W in layers:
            for kappa in (5e-4, 1e-3, 5e-3, 7.5e-2):
                print(f"P {n_train}, {label} first layer, kappa {kappa:g}: "
                      f"{compare(net, W, X[:n_train], y[:n_train], kappa, var)}")


if __name__ == "__main__":
    main()
