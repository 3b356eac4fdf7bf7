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
from mflab.networks import TwoLayer
from mflab.dynamics import TrainData, readout_conditional
from mflab.conventions import temperature
d, N, P = 35, 512, 2133
net = TwoLayer.create(N, "relu", "ntk", gamma=0.5)
key = jax.random.key(0)
X = jnp.sign(jax.random.normal(key, (P, d)))
y = jnp.prod(X[:, :4], axis=1)
data = TrainData(X, y, jnp.full(P, 1.0 / P))
params = net.init(jax.random.key(1), d)
var = net.prior_variances(d)
for kappa in (5e-4, 1e-3, 5e-3, 7.5e-2):
    T = temperature(kappa)
    mean, R = readout_conditional(net, params, data, T, var)
    # float64 reference
    s = N ** -0.5
    Phi = s * np.maximum(np.asarray(X, np.float64) @ np.asarray(params.W, np.float64).T, 0)
    Lam = 2 / T * Phi.T @ (Phi / P) + np.eye(N) / var.a
    mu = np.linalg.solve(Lam, 2 / T * Phi.T @ (np.asarray(y, np.float64) / P))
    Rn = np.asarray(R, np.float64)
    ev = np.linalg.eigvalsh(Lam)
    # whitened error of the mean: |L^T (mean - mu)| (units of posterior s.d.), and factor error
    Lc = np.linalg.cholesky(Lam)
    z = Lc.T @ (np.asarray(mean, np.float64) - mu)
    fac = np.linalg.norm(Rn @ Rn.T - Lam) / np.linalg.norm(Lam)
    # covariance error of draws: whitened precision R^-1 Lam R^-T should be I
    Wm = np.linalg.solve(Rn, np.linalg.solve(Rn, Lam).T)
    print(f"kappa {kappa:g}: cond {ev[-1]/ev[0]:.2e}, finite {bool(np.all(np.isfinite(Rn)))}, mean error {np.abs(z).max():.3f} posterior s.d., "
          f"|RR^T-Lam|/|Lam| {fac:.1e}, whitened precision eigen range [{np.linalg.eigvalsh((Wm+Wm.T)/2)[[0,-1]].round(3)}]")
LEARNED = "docs/validation/published_parity/metastability_p750/M4-prior/results/final_params.npz"
z = np.load(LEARNED) if os.path.exists(LEARNED) else None
if z is not None:
    print("learned first layer (metastability_p750/M4-prior, P = 750 kappa 5e-3 final weights), on P = 2133 parity inputs:")
for rep in range(3 if z is not None else 0):
    params = params._replace(W=jnp.asarray(z['W'][rep]), a=jnp.asarray(z['a'][rep]))
    for kappa in (5e-4, 1e-3):
        T = temperature(kappa)
        mean, R = readout_conditional(net, params, data, T, var)
        Phi = N ** -0.5 * np.maximum(np.asarray(X, np.float64) @ np.asarray(params.W, np.float64).T, 0)
        Lam = 2 / T * Phi.T @ (Phi / P) + np.eye(N) / var.a
        mu = np.linalg.solve(Lam, 2 / T * Phi.T @ (np.asarray(y, np.float64) / P))
        Rn = np.asarray(R, np.float64); ev = np.linalg.eigvalsh(Lam)
        ok = bool(np.all(np.isfinite(Rn)))
        z_ = np.linalg.cholesky(Lam).T @ (np.asarray(mean, np.float64) - mu) if ok else np.array([np.nan])
        Wm = np.linalg.solve(Rn, np.linalg.solve(Rn, Lam).T) if ok else np.full((2, 2), np.nan)
        print(f"  seed {rep} kappa {kappa:g}: cond {ev[-1]/ev[0]:.2e}, finite {ok}, mean error {np.abs(z_).max():.3f} s.d., "
              f"whitened precision eigen range {np.linalg.eigvalsh((Wm+Wm.T)/2)[[0,-1]].round(3) if ok else 'nan'}")
print("P < N (rank-deficient features), random and learned first layers:")
for Psmall in (100, 500):
    Xs, ys = X[:Psmall], y[:Psmall]
    dat = TrainData(Xs, ys, jnp.full(Psmall, 1.0 / Psmall))
    layers = [("random", net.init(jax.random.key(1), d).W)] + ([("learned", jnp.asarray(z["W"][0]))] if z is not None else [])
    for label, Wl in layers:
        p_ = params._replace(W=Wl)
        for kappa in (5e-4, 5e-3):
            T = temperature(kappa)
            mean, R = readout_conditional(net, p_, dat, T, var)
            Phi = N ** -0.5 * np.maximum(np.asarray(Xs, np.float64) @ np.asarray(Wl, np.float64).T, 0)
            Lam = 2 / T * Phi.T @ (Phi / Psmall) + np.eye(N) / var.a
            mu = np.linalg.solve(Lam, 2 / T * Phi.T @ (np.asarray(ys, np.float64) / Psmall))
            Rn = np.asarray(R, np.float64); ev = np.linalg.eigvalsh(Lam)
            ok = bool(np.all(np.isfinite(Rn)))
            z_ = np.linalg.cholesky(Lam).T @ (np.asarray(mean, np.float64) - mu) if ok else np.array([np.nan])
            Wm = np.linalg.solve(Rn, np.linalg.solve(Rn, Lam).T) if ok else np.full((2, 2), np.nan)
            print(f"  P {Psmall} {label} kappa {kappa:g}: cond {ev[-1]/ev[0]:.2e}, finite {ok}, mean error {np.abs(z_).max():.3f} s.d., "
                  f"whitened precision eigen range {np.linalg.eigvalsh((Wm+Wm.T)/2)[[0,-1]].round(3) if ok else 'nan'}")
