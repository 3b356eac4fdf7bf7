r"""Self-consistent mean-field (MF) theory of the two-layer Bayesian posterior, and MF-ARD.

Göring et al. (2025), §2.2–§3 of ``shared/papers/B_simple_mean_field_feature_learning.md``.
Posterior p(θ|D) ∝ exp(−Σ_μ ω_μ (f − y)²/T − prior) with T = 2κ² (see :mod:`mflab.conventions`;
ω_μ = 1/P), approximated by a product of single-neuron distributions in the residual field
r = y − ⟨f⟩. With the readout a integrated out exactly (it enters quadratically):

    Σ̂(w) = Σ_μ ω_μ φ(w·x_μ)²,   Ĵ_r(w) = Σ_μ ω_μ r_μ φ(w·x_μ),   D(w) = A κ² + Σ̂(w),  A = N^{2γ}/σ_a²
    log p(w) = −½ Σ_j ρ_j w_j² − ½ log D(w) + Ĵ_r(w)² / (2κ² D(w)) + const
    E[a | w] = N^γ Ĵ_r/D,   ⟨f⟩(x) = N E_{p(w)}[ Ĵ_r(w) φ(w·x) / D(w) ]          (self-consistency)

Plain MF has ρ_j ≡ d/σ_w². MF-ARD shares precisions ρ_j across neurons with a Gamma(α0, β0)
hyperprior and the mean-field VB update ρ̂_j = (α0 + N/2)/(β0 + (N/2)⟨w_j²⟩), applied with EMA
damping e: ρ ← (1 − e)ρ + e ρ̂ (default β0 = α0 σ_w²/d, so the hyperprior mean is d/σ_w²).

Algorithm (population dynamics; a documented departure from the authors' solver)
------------------------------------------------------------------------------
B particles w_b represent p(w). One *outer iteration*:

1. K Langevin steps of every particle in the frozen residual r, targeting p(w) with the same
   step-size convention as the network sampler: w ← w − η T ∇(−log p) + √(2Tη) ξ.
2. Field solve, exact for the frozen particle cloud. With Φ_bμ = φ(w_b·x_μ) the self-consistency
   ⟨f⟩ = Φᵀc, c_b = (N/B) Ĵ_r(w_b)/D_b, r = y − ⟨f⟩ is linear in c:

       ((B/N) diag(D) + Φ Ω Φᵀ) c = Φ Ω y,     Ω = diag(ω).

   Solving it (a B×B system) instead of iterating f ← f_new matters: with a integrated out the
   iteration map has gain up to ~N once features align, so damped iteration needs a step ≲ 2/N.
   At N → ∞ (γ = ½) this is exactly kernel ridge regression with the particles' empirical NNGP
   kernel and ridge κ²/ω_μ = κ²P (tested).
3. (MF-ARD) the precision update above, with ⟨w_j²⟩ over particles.

The fixed-point residual reported is RMS_μ(⟨f⟩_new − ⟨f⟩_old)/RMS(y) per outer iteration; it
has a Monte-Carlo floor ∝ B^{-1/2} from the particle motion. ``field="parity"`` restricts
⟨f⟩ = m χ_S (the population-limit ansatz of §2.3): the solve becomes m = N g/(1 + N g) with
g = (1/B) Σ_b Ĵ_χ(w_b)²/D_b.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..conventions import temperature
from ..dynamics.objectives import TrainData
from ..errors import ConfigError
from ..networks.activations import Activation, get_activation


@dataclass(frozen=True)
class MeanField:
    """Static description of an MF / MF-ARD problem (hashable: safe as a jit static argument)."""

    activation: Activation
    width: int  # N, the network width the theory describes
    gamma: float = 0.5
    sigma_a: float = 1.0
    sigma_w: float = 1.0
    particles: int = 256  # B: Monte-Carlo particles (a numerical parameter, independent of N)
    inner_steps: int = 10  # K Langevin steps per outer iteration
    lr: float = 1e-3  # η in w ← w − ηT∇U + √(2Tη)ξ
    ard: bool = False
    alpha0: float = 4.0
    beta0: float | None = None  # default α0 σ_w²/d
    ard_damping: float = 0.5
    field: str = "free"  # "free": ⟨f⟩ on every training point; "parity": ⟨f⟩ = m χ_S
    temperature_convention: str = "kappa"

    @staticmethod
    def create(activation="relu", width=512, **kw) -> "MeanField":
        """The MF (``ard=False``) or MF-ARD problem of a width-N two-layer network; solve with
        :func:`mf_init` and :func:`mf_run` (κ, not T, is the noise argument).

        >>> import jax, jax.numpy as jnp
        >>> from mflab.theory.mean_field import MeanField, mf_init, mf_run, mf_predict
        >>> from mflab.dynamics import TrainData
        >>> mf = MeanField.create("relu", 64, particles=16)
        >>> X = jax.random.normal(jax.random.key(0), (20, 3)); y = jnp.sign(X[:, 0])
        >>> state = mf_init(mf, jax.random.key(1), 3, 20)
        >>> state, res, _ = mf_run(mf, state, jax.random.key(2), TrainData(X, y, jnp.full(20, 1 / 20)), 0.1, 5)
        >>> mf_predict(mf, state, X).shape
        (20,)
        """
        mf = MeanField(get_activation(activation), int(width), **kw)
        for name in ("width", "particles", "inner_steps"):
            if getattr(mf, name) < 1:
                raise ConfigError(f"mf.{name}", f"must be >= 1, got {getattr(mf, name)}", "use a positive integer")
        for name in ("sigma_a", "sigma_w", "lr", "alpha0"):
            if not getattr(mf, name) > 0:
                raise ConfigError(f"mf.{name}", f"must be > 0, got {getattr(mf, name)}", "use a positive number")
        if not 0 < mf.ard_damping <= 1:
            raise ConfigError("mf.ard_damping", f"must be in (0, 1], got {mf.ard_damping}", "e.g. 0.5")
        if mf.field not in ("free", "parity"):
            raise ConfigError("mf.field", f"unknown field model '{mf.field}'", "use 'free' or 'parity'")
        return mf

    @property
    def A(self) -> float:
        return self.width ** (2 * self.gamma) / self.sigma_a**2

    def rho0(self, d: int) -> float:
        return d / self.sigma_w**2

    def beta(self, d: int) -> float:
        return self.alpha0 * self.sigma_w**2 / d if self.beta0 is None else self.beta0


class MFState(NamedTuple):
    W: jax.Array  # (B, d) particles
    c: jax.Array  # (B,) field coefficients: ⟨f⟩(x) = Σ_b c_b φ(w_b·x)
    field: jax.Array  # (P,) ⟨f⟩ on the training points
    rho: jax.Array  # (d,) prior precisions (constant d/σ_w² for plain MF)
    residual: jax.Array  # last fixed-point residual
    it: jax.Array
    ok: jax.Array  # False once a step produced non-finite particles or field (the state is then frozen)


def mf_init(mf: MeanField, key, d: int, n_train: int, dtype=jnp.float32) -> MFState:
    """Particles from the isotropic prior, zero field (the symmetric state)."""
    W = jax.random.normal(key, (mf.particles, d), dtype) / jnp.sqrt(jnp.asarray(mf.rho0(d), dtype))
    return MFState(W, jnp.zeros(mf.particles, dtype), jnp.zeros(n_train, dtype), jnp.full((d,), mf.rho0(d), dtype),
                   jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32), jnp.ones((), bool))


def _features(mf, W, X):
    H = W @ X.T
    return H, mf.activation.fn(H)


def single_neuron_energy(mf: MeanField, w, rho, r, data: TrainData, kappa2):
    """U(w) = ½Σ_j ρ_j w_j² + ½ log D(w) − Ĵ_r(w)²/(2κ²D(w)) of one particle w (d,) in a frozen
    residual r: p_r(w) ∝ exp(−U). The particle step below uses its hand-written gradient."""
    phi = mf.activation.fn(data.X @ w)
    D = mf.A * kappa2 + jnp.sum(data.weights * phi**2)
    J = jnp.sum(data.weights * r * phi)
    return 0.5 * jnp.sum(rho * w**2) + 0.5 * jnp.log(D) - J**2 / (2 * kappa2 * D)


def _langevin_step(mf: MeanField, W, key, rho, r, data: TrainData, kappa2, T, eta):
    """One Langevin step of all particles on U(w) = ½Σρ_j w_j² + ½ log D − Ĵ_r²/(2κ²D) (hand gradient)."""
    H, Phi = _features(mf, W, data.X)
    om = data.weights
    Sig = Phi**2 @ om
    J = Phi @ (om * r)
    D = mf.A * kappa2 + Sig
    dU_dSig = 0.5 / D + J**2 / (2 * kappa2 * D**2)
    dU_dJ = -J / (kappa2 * D)
    dphi = mf.activation.deriv(H)
    G = dphi * om[None, :] * (2.0 * Phi * dU_dSig[:, None] + r[None, :] * dU_dJ[:, None])
    grad = rho[None, :] * W + G @ data.X
    xi = jax.random.normal(key, W.shape, W.dtype)
    return W - eta * T * grad + jnp.sqrt(2.0 * T * eta) * xi


def _field_solve(mf: MeanField, W, data: TrainData, kappa2, parity_chi):
    """Exact self-consistent field for a frozen particle cloud; returns (c, ⟨f⟩ on train)."""
    _, Phi = _features(mf, W, data.X)
    om = data.weights
    Sig = Phi**2 @ om
    D = mf.A * kappa2 + Sig
    B, N = mf.particles, mf.width
    if mf.field == "parity":
        Jchi = Phi @ (om * parity_chi)
        g = jnp.mean(Jchi**2 / D)
        m = N * g / (1 + N * g)
        c = (N / B) * (1 - m) * Jchi / D
        return c, m * parity_chi
    M = (Phi * om[None, :]) @ Phi.T + jnp.diag((B / N) * D)
    c = jnp.linalg.solve(M, Phi @ (om * data.y))
    return c, Phi.T @ c


def mf_step(mf: MeanField, state: MFState, key, data: TrainData, kappa):
    """One outer iteration: K particle steps in the frozen residual, exact field solve, ARD update."""
    kappa2 = kappa**2
    T = temperature(kappa, mf.temperature_convention)
    r = data.y - state.field
    keys = jax.random.split(key, mf.inner_steps)
    W = jax.lax.fori_loop(0, mf.inner_steps,
                          lambda i, W: _langevin_step(mf, W, keys[i], state.rho, r, data, kappa2, T, mf.lr), state.W)
    c, field = _field_solve(mf, W, data, kappa2, data.y)
    rho = state.rho
    if mf.ard:
        d = W.shape[1]
        N = mf.width
        rho_hat = (mf.alpha0 + N / 2) / (mf.beta(d) + (N / 2) * jnp.mean(W**2, axis=0))
        rho = (1 - mf.ard_damping) * rho + mf.ard_damping * rho_hat
    y_rms = jnp.sqrt(jnp.sum(data.weights * data.y**2))
    resid = jnp.sqrt(jnp.sum(data.weights * (field - state.field) ** 2)) / y_rms
    ok = state.ok & jnp.all(jnp.isfinite(W)) & jnp.all(jnp.isfinite(c)) & jnp.all(jnp.isfinite(rho))
    new = MFState(W, c, field, rho, resid, state.it + 1, ok)
    frozen = state._replace(residual=jnp.asarray(jnp.nan, state.residual.dtype), it=state.it + 1, ok=ok)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, frozen)


def mf_predict(mf: MeanField, state: MFState, X):
    """⟨f⟩(X) = Σ_b c_b φ(w_b·x)."""
    return mf.activation.fn(X @ state.W.T) @ state.c


def mf_run(mf: MeanField, state: MFState, key, data: TrainData, kappa, n_iter: int, observe=None):
    """``n_iter`` outer iterations under ``lax.scan``; returns (state, per-iteration residuals, observations)."""

    def body(s, i):
        s = mf_step(mf, s, jax.random.fold_in(key, s.it), data, kappa)
        obs = {} if observe is None else observe(s)
        return s, (s.residual, obs)

    state, (res, obs) = jax.lax.scan(body, state, jnp.arange(n_iter))
    return state, res, obs


# --- population limit for parity (P → ∞) -------------------------------------------------------
def population_data(d: int, support, key=None, n_points: int = 16384, dtype=jnp.float32) -> TrainData:
    """The population of {±1}^d as weighted data: all 2^d points for d ≤ 16, else ``n_points``
    uniform Monte-Carlo points (then ``key`` is required). Labels y = χ_S."""
    from ..tasks.parity import character
    from .hypercube import ENUMERATION_MAX_D, all_points

    if d <= ENUMERATION_MAX_D:
        X = all_points(d).astype(dtype)
    else:
        if key is None:
            raise ValueError("population_data needs a PRNG key for Monte-Carlo when d > 16")
        X = jax.random.rademacher(key, (n_points, d), dtype=dtype)
    return TrainData(X, character(X, support), jnp.full((X.shape[0],), 1.0 / X.shape[0], dtype))


def population_parity_sweep(mf: MeanField, data: TrainData, kappas, key, iterations: int):
    """Scalar fixed point m = N(1 − m)⟨J_S²/D⟩_{p_m} along a κ sweep (in the given order, normally
    decreasing), starting from the symmetric state (prior particles, m = 0) and warm-starting each
    κ from the previous solution. Returns (m per κ, drift of m over the last half per κ, final state)."""
    if mf.field != "parity":
        raise ConfigError("mf.field", "the population solver needs field = 'parity'", "MeanField.create(..., field='parity')")
    d = data.X.shape[1]
    state0 = mf_init(mf, jax.random.fold_in(key, 0), d, data.X.shape[0], data.X.dtype)

    def at_kappa(state, kk):
        i, kappa = kk

        def body(s, j):
            s = mf_step(mf, s, jax.random.fold_in(jax.random.fold_in(key, i + 1), j), data, kappa)
            return s, jnp.sum(data.weights * s.field * data.y)

        state, ms = jax.lax.scan(body, state, jnp.arange(iterations))
        h = iterations // 2
        return state, (jnp.mean(ms[h:]), jnp.abs(jnp.mean(ms[h + h // 2:]) - jnp.mean(ms[h:h + h // 2])))

    kappas = jnp.asarray(kappas, data.X.dtype)
    state, (m, drift) = jax.jit(lambda s: jax.lax.scan(at_kappa, s, (jnp.arange(kappas.shape[0]), kappas)))(state0)
    return m, drift, state


def critical_kappa(mf: MeanField, data: TrainData, key, kappa_lo: float, kappa_hi: float, iterations: int,
                   threshold: float = 0.5, bisections: int = 8) -> tuple[float, float]:
    """Symmetry-breaking noise κ_c of the population fixed point by bisection in log κ: from the
    symmetric state, m ends above ``threshold`` for κ < κ_c and below it for κ > κ_c. Requires
    m(κ_lo) ≥ threshold > m(κ_hi); returns the final bracket (κ_low, κ_high)."""
    def m_at(kappa):
        return float(population_parity_sweep(mf, data, [kappa], key, iterations)[0][0])

    if not m_at(kappa_lo) >= threshold:
        raise ConfigError("kappa_lo", f"no symmetry breaking at κ = {kappa_lo:g} (m < {threshold})",
                          "lower kappa_lo or raise the iteration budget")
    if m_at(kappa_hi) >= threshold:
        raise ConfigError("kappa_hi", f"the symmetry is already broken at κ = {kappa_hi:g}", "raise kappa_hi")
    lo, hi = float(kappa_lo), float(kappa_hi)
    for _ in range(bisections):
        mid = float(jnp.sqrt(lo * hi))
        if m_at(mid) >= threshold:
            lo = mid
        else:
            hi = mid
    return lo, hi
