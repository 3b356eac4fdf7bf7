r"""Self-consistent mean-field (MF) theory of the two-layer Bayesian posterior, and MF-ARD.

Göring et al. (2025), §2.2–§3 of ``shared/papers/B_simple_mean_field_feature_learning.md``.
Posterior p(θ|D) ∝ exp(−Σ_μ ω_μ (f − y)²/T − prior) with T = 2κ² (see :mod:`mflab.conventions`;
ω_μ = 1/P), approximated by a product of single-neuron distributions in the residual field
r = y − ⟨f⟩. With the readout a integrated out exactly (it enters quadratically):

    Σ̂(w) = Σ_μ ω_μ φ(w·x_μ)²,   Ĵ_r(w) = Σ_μ ω_μ r_μ φ(w·x_μ),   D(w) = A κ² + Σ̂(w),  A = N^{2γ}/σ_a²
    log p(w) = −½ Σ_j ρ_j w_j² − ½ log D(w) + Ĵ_r(w)² / (2κ² D(w)) + const
    E[a | w] = N^γ Ĵ_r/D,   ⟨f⟩(x) = N E_{p(w)}[ Ĵ_r(w) φ(w·x) / D(w) ]          (self-consistency)

Hidden biases (``sigma_b``): f = N^{-γ} Σ a_i φ(w_i·x + b_i). The bias is one more particle coordinate,
φ(w·x_μ + b) in Σ̂ and Ĵ_r, with its own Gaussian prior precision 1/σ_b² in log p(w, b) (never
ARD-updated): the prior of b is N(0, σ_b²), as in the network (:class:`mflab.networks.TwoLayer`).
An output bias (``sigma_c``) c ~ N(0, σ_c²) is one global Gaussian parameter: given the particle cloud it
is solved jointly with the field (one more row of the linear system below, a constant feature with
prior term κ²/σ_c²), and ⟨f⟩ = Σ_b c_b φ(w_b·x + b_b) + ⟨c⟩.

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

   With an output bias the unknowns are (c, ⟨c⟩): Φ gains a row of ones and diag(D) the entry
   (N/B) κ²/σ_c², so that row reads (Σ_μ ω_μ + κ²/σ_c²) ⟨c⟩ = Σ_μ ω_μ (y − Φᵀc)_μ.
   Solving it (a B×B system) instead of iterating f ← f_new matters: with a integrated out the
   iteration map has gain up to ~N once features align, so damped iteration needs a step ≲ 2/N.
   At N → ∞ (γ = ½) this is exactly kernel ridge regression with the particles' empirical NNGP
   kernel and ridge κ²/ω_μ = κ²P (tested).
3. (MF-ARD) the precision update above, with ⟨w_j²⟩ over particles.

Readout particles (``readout="particles"``: the authors' population dynamics, notes §2.4 and their
``rs_aw_ard_sgld_FAST`` script). Each particle carries its own readout a_b and moves (w_b, a_b) by K Langevin
steps on the single-neuron law *before* a is integrated out,

    −log p(w, a | r) = ½ Σ_j ρ_j w_j² + a²/(2σ_a²) + (1/T) Σ_μ ω_μ (r_μ − N^{-γ} a φ(w·x_μ))²   (+ b²/(2σ_b²)),

whose w-marginal is log p(w) above; then the field is replaced by the particles' estimate,
⟨f⟩ ← s Σ_b a_b φ(w_b·x), s = N^{1−γ}/B (stored as c_b = s a_b), with no solve. The fixed points are the same;
the path is not: the field carries the readouts' Monte-Carlo noise and follows the particles with the lag of
one outer iteration, like SGLD on a width-B network whose neurons see the others' output K steps late. The
authors write s for N^{-γ} in the particle energy; the two agree at their B = N. Free field model, no output bias.

The fixed-point residual reported is RMS_μ(⟨f⟩_new − ⟨f⟩_old)/RMS(y) per outer iteration; it
has a Monte-Carlo floor ∝ B^{-1/2} from the particle motion. ``field="parity"`` restricts
⟨f⟩ = m χ_S (the population-limit ansatz of §2.3): the solve becomes m = N g/(1 + N g) with
g = (1/B) Σ_b Ĵ_χ(w_b)²/D_b.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..conventions import PosteriorNoise, check_posterior_noise, posterior_noise
from ..dynamics.kernel import Guarded, Kernel, guard
from ..dynamics.runner import trajectory
from ..dynamics.objectives import TrainData
from ..errors import ConfigError
from ..networks.activations import Activation, get_activation
from .predictive import Predictive


READOUTS = ("integrated", "particles")


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
    readout: str = "integrated"  # "integrated": a integrated out, field solved exactly; "particles": the authors' (w, a)
    sigma_b: float | None = None  # hidden biases b ~ N(0, σ_b²) as a particle coordinate (None: no hidden biases)
    sigma_c: float | None = None  # output bias c ~ N(0, σ_c²), solved with the field (None: no output bias)

    @staticmethod
    def create(activation="relu", width=512, **kw) -> "MeanField":
        """The MF (``ard=False``) or MF-ARD problem of a width-N two-layer network; solve with
        :func:`mf_init` and :func:`mf_run`; the noise is a :class:`~mflab.conventions.PosteriorNoise`.

        >>> import jax, jax.numpy as jnp
        >>> from mflab.theory.mean_field import MeanField, mf_init, mf_run, mf_predict
        >>> from mflab.conventions import posterior_noise
        >>> from mflab.dynamics import TrainData
        >>> mf = MeanField.create("relu", 64, particles=16)
        >>> X = jax.random.normal(jax.random.key(0), (20, 3)); y = jnp.sign(X[:, 0])
        >>> state = mf_init(mf, jax.random.key(1), 3, 20)
        >>> data = TrainData(X, y, jnp.full(20, 1 / 20))
        >>> state, res, _ = mf_run(mf, state, jax.random.key(2), data, posterior_noise(0.1), 5)
        >>> mf_predict(mf, state, X).shape
        (20,)
        """
        mf = MeanField(get_activation(activation), int(width), **kw)
        for name in ("width", "particles", "inner_steps"):
            if getattr(mf, name) < 1:
                raise ConfigError(f"{name}", f"must be >= 1, got {getattr(mf, name)}", "use a positive integer")
        for name in ("sigma_a", "sigma_w", "lr", "alpha0"):
            if not getattr(mf, name) > 0:
                raise ConfigError(f"{name}", f"must be > 0, got {getattr(mf, name)}", "use a positive number")
        if not 0 < mf.ard_damping <= 1:
            raise ConfigError("ard_damping", f"must be in (0, 1], got {mf.ard_damping}", "e.g. 0.5")
        if mf.field not in ("free", "parity"):
            raise ConfigError("field", f"unknown field model '{mf.field}'", "use 'free' or 'parity'")
        for name in ("sigma_b", "sigma_c"):
            v = getattr(mf, name)
            if v is not None and not 0 < v <= 1e6:
                raise ConfigError(name, f"must be a prior standard deviation in (0, 1e6], got {v!r}",
                                  "e.g. 1.0, or omit it for no such bias")
        if mf.readout not in READOUTS:
            raise ConfigError("readout", f"unknown readout '{mf.readout}'", f"use one of {', '.join(READOUTS)}")
        if mf.readout_particles and (mf.field != "free" or mf.sigma_c is not None):
            raise ConfigError("readout", "readout particles move the free field without an output bias",
                              "use readout = 'integrated', or field = 'free' without sigma_c")
        if mf.field == "parity" and (mf.sigma_b is not None or mf.sigma_c is not None):
            raise ConfigError("field", "the parity field model ⟨f⟩ = m χ_S has no biases",
                              "use field = 'free' with biases")
        return mf

    @property
    def A(self) -> float:
        return self.width ** (2 * self.gamma) / self.sigma_a**2

    def rho0(self, d: int) -> float:
        return d / self.sigma_w**2

    def beta(self, d: int) -> float:
        return self.alpha0 * self.sigma_w**2 / d if self.beta0 is None else self.beta0

    @property
    def field_scale(self) -> float:
        """s = N^{1−γ}/B: ⟨f⟩ = s Σ_b a_b φ_b estimates N^{-γ} Σ_i a_i φ_i from B particles (readout particles)."""
        return self.width ** (1 - self.gamma) / self.particles

    @property
    def readout_particles(self) -> bool:
        """The readouts a are particle coordinates (``readout="particles"``), not integrated out."""
        return self.readout == "particles"

    @property
    def bias(self) -> bool:
        return self.sigma_b is not None

    @property
    def output_bias(self) -> bool:
        return self.sigma_c is not None


class MFState(NamedTuple):
    """The solver state of the MF outer iteration (kernel of :func:`mf_kernel`)."""

    W: jax.Array  # (B, d) particles
    c: jax.Array  # (B,) field coefficients: ⟨f⟩(x) = Σ_b c_b φ(w_b·x)
    field: jax.Array  # (P,) ⟨f⟩ on the training points
    rho: jax.Array  # (d,) prior precisions (constant d/σ_w² for plain MF)
    b: Optional[jax.Array] = None  # (B,) hidden biases of the particles (MeanField.sigma_b), or None
    c_out: Optional[jax.Array] = None  # () posterior mean of the output bias (MeanField.sigma_c), or None

    @property
    def params(self) -> "MFState":  # the step protocol's params: observables read the whole solution
        return self


class MFInfo(NamedTuple):
    """Per-iteration diagnostic of the mean-field solver: the relative change of the mean field ⟨f⟩."""

    residual: jax.Array  # RMS_μ(⟨f⟩_new − ⟨f⟩_old)/RMS(y) of the step


def mf_init(mf: MeanField, key, d: int, n_train: int, dtype=jnp.float32) -> Guarded:
    """The symmetric state, guarded: particles (and their hidden biases) from the isotropic prior, zero field."""
    Z = jax.random.normal(key, (mf.particles, d + mf.bias), dtype)  # one draw: (w, b) jointly where biases exist
    W = Z[:, :d] / jnp.sqrt(jnp.asarray(mf.rho0(d), dtype))
    b = mf.sigma_b * Z[:, d] if mf.bias else None
    a = mf.sigma_a * jax.random.normal(jax.random.fold_in(key, 1), (mf.particles,), dtype) if mf.readout_particles else None
    return mf_kernel(mf).init(W, n_train, b, a)


def _features(mf, W, X, b=None):
    H = W @ X.T
    H = H if b is None else H + b[:, None]
    return H, mf.activation.fn(H)


def single_neuron_energy(mf: MeanField, w, rho, r, data: TrainData, kappa2, b=None):
    """U(w, b) = ½Σ_j ρ_j w_j² (+ b²/(2σ_b²)) + ½ log D − Ĵ_r²/(2κ²D), φ = φ(w·x + b), of one particle w (d,)
    (with its hidden bias b where the problem has them) in a frozen residual r: p_r ∝ exp(−U). The particle
    step below uses its hand-written gradient."""
    phi = mf.activation.fn(data.X @ w + (0.0 if b is None else b))
    D = mf.A * kappa2 + jnp.sum(data.weights * phi**2)
    J = jnp.sum(data.weights * r * phi)
    prior_b = 0.0 if b is None else 0.5 * b**2 / mf.sigma_b**2
    return 0.5 * jnp.sum(rho * w**2) + prior_b + 0.5 * jnp.log(D) - J**2 / (2 * kappa2 * D)


def readout_particle_energy(mf: MeanField, w, a, rho, r, data: TrainData, kappa2, b=None):
    """−log p(w, a, b | r) = ½Σ_j ρ_j w_j² + a²/(2σ_a²) (+ b²/(2σ_b²)) + Σ_μ ω_μ (r_μ − N^{-γ} a φ_μ)²/(2κ²) of one
    particle with its readout a (``readout="particles"``); integrating a out gives :func:`single_neuron_energy`
    up to a constant. The particle step uses its hand-written gradient."""
    phi = mf.activation.fn(data.X @ w + (0.0 if b is None else b))
    prior_b = 0.0 if b is None else 0.5 * b**2 / mf.sigma_b**2
    fit = jnp.sum(data.weights * (r - mf.width ** (-mf.gamma) * a * phi) ** 2) / (2 * kappa2)
    return 0.5 * jnp.sum(rho * w**2) + 0.5 * a**2 / mf.sigma_a**2 + prior_b + fit


def _langevin_step(mf: MeanField, W, b, key, rho, r, data: TrainData, kappa2, T, eta):
    """One Langevin step of all particles (W, and b where present) on U of :func:`single_neuron_energy`
    (hand gradient); returns (W, b)."""
    H, Phi = _features(mf, W, data.X, b)
    om = data.weights
    Sig = Phi**2 @ om
    J = Phi @ (om * r)
    D = mf.A * kappa2 + Sig
    dU_dSig = 0.5 / D + J**2 / (2 * kappa2 * D**2)
    dU_dJ = -J / (kappa2 * D)
    dphi = mf.activation.deriv(H)
    G = dphi * om[None, :] * (2.0 * Phi * dU_dSig[:, None] + r[None, :] * dU_dJ[:, None])
    grad = rho[None, :] * W + G @ data.X
    d = W.shape[1]
    xi = jax.random.normal(key, (W.shape[0], d + (b is not None)), W.dtype)  # one draw for (w, b)
    W = W - eta * T * grad + jnp.sqrt(2.0 * T * eta) * xi[:, :d]
    if b is not None:
        grad_b = b / mf.sigma_b**2 + jnp.sum(G, axis=1)
        b = b - eta * T * grad_b + jnp.sqrt(2.0 * T * eta) * xi[:, d]
    return W, b


def _readout_particle_step(mf: MeanField, W, b, a, key, rho, r, data: TrainData, T, eta):
    """One Langevin step of all particles (w, a, and b where present) on −log p(w, a | r) of the module
    docstring (hand gradient, the network sampler's convention θ ← θ − ηT∇(−log p) + √(2Tη)ξ); returns (W, b, a)."""
    H, Phi = _features(mf, W, data.X, b)
    s = mf.width ** (-mf.gamma)
    E = (data.weights[None, :] * (-2.0 / T)) * (r[None, :] - s * a[:, None] * Phi)  # ∂(−log p)/∂(N^{-γ} a φ_μ)
    Ga = s * a[:, None] * E * mf.activation.deriv(H)  # (B, P): ∂/∂(w·x_μ + b)
    d = W.shape[1]
    xi = jax.random.normal(key, (W.shape[0], d + 1 + (b is not None)), W.dtype)  # one draw for (w, a, b)
    noise = jnp.sqrt(2.0 * T * eta)
    W = W - eta * T * (rho[None, :] * W + Ga @ data.X) + noise * xi[:, :d]
    a = a - eta * T * (a / mf.sigma_a**2 + s * jnp.sum(E * Phi, axis=1)) + noise * xi[:, d]
    if b is not None:
        b = b - eta * T * (b / mf.sigma_b**2 + jnp.sum(Ga, axis=1)) + noise * xi[:, d + 1]
    return W, b, a


def _field_solve(mf: MeanField, W, b, data: TrainData, kappa2, parity_chi):
    """Exact self-consistent field for a frozen particle cloud; returns (c, ⟨c⟩ or None, ⟨f⟩ on train)."""
    _, Phi = _features(mf, W, data.X, b)
    om = data.weights
    D = mf.A * kappa2 + Phi**2 @ om
    B, N = mf.particles, mf.width
    if mf.field == "parity":
        Jchi = Phi @ (om * parity_chi)
        g = jnp.mean(Jchi**2 / D)
        m = N * g / (1 + N * g)
        c = (N / B) * (1 - m) * Jchi / D
        return c, None, m * parity_chi
    Phi1 = _with_constant(mf, Phi)
    sol = jnp.linalg.solve(_readout_precision(mf, Phi1, om, D, kappa2), Phi1 @ (om * data.y))
    c, c_out = (sol[:-1], sol[-1]) if mf.output_bias else (sol, None)
    return c, c_out, Phi1.T @ sol


def _with_constant(mf: MeanField, Phi):
    """Φ with a row of ones appended for the output bias (the features of the linear solve)."""
    return jnp.concatenate([Phi, jnp.ones((1, Phi.shape[1]), Phi.dtype)]) if mf.output_bias else Phi


def _readout_precision(mf: MeanField, Phi1, om, D, kappa2):
    """M = Φ Ω Φᵀ + (B/N) diag(D) (+ the output bias's κ²/σ_c² on its row): κ² times the posterior precision
    of the field coefficients c (and ⟨c⟩); ``Phi1`` from :func:`_with_constant`."""
    diag = (mf.particles / mf.width) * D
    if mf.output_bias:
        diag = jnp.concatenate([diag, jnp.full((1,), kappa2 / mf.sigma_c**2, D.dtype)])
    return (Phi1 * om[None, :]) @ Phi1.T + jnp.diag(diag)


@functools.lru_cache(maxsize=64)
def mf_kernel(mf: MeanField) -> Kernel:
    """The MF outer iteration as a guarded kernel of the step protocol (:mod:`mflab.dynamics.kernel`):
    ``init(W, n_train, b, a)``; ``step(state, key, noise, data) -> (state, MFInfo)``, ``noise`` a
    :class:`~mflab.conventions.PosteriorNoise` (κ and T = 2κ²), is K particle steps in
    the frozen residual, the new field (the exact solve, or with readout particles their estimate) and
    (MF-ARD) the precision update. A step with
    non-finite particles, field or precisions is rejected by the guard (the lane freezes, ``alive``
    goes False). Cached per problem, so repeated runs reuse compiles."""

    def init(W, n_train: int, b=None, a=None) -> MFState:
        """The particles W (and b), zero field; with readout particles their readouts ``a`` too (c = s a)."""
        d, dtype = W.shape[1], W.dtype
        if (b is None) == mf.bias:
            raise ConfigError("sigma_b", f"the problem {'has' if mf.bias else 'has no'} hidden biases, the initial "
                              f"particles {'have none' if b is None else 'do'}", "pass b exactly when sigma_b is set")
        if (a is None) == mf.readout_particles:
            raise ConfigError("readout", f"readout '{mf.readout}' {'needs' if a is None else 'takes no'} initial "
                              "readouts a", "pass a exactly when readout = 'particles'")
        c = jnp.zeros(mf.particles, dtype) if a is None else mf.field_scale * a
        return MFState(W, c, jnp.zeros(n_train, dtype), jnp.full((d,), mf.rho0(d), dtype),
                       b, jnp.zeros((), dtype) if mf.output_bias else None)

    def particle_moves(state: MFState, keys, r, data: TrainData, kappa2, T):
        """K Langevin steps in the frozen residual r, then the new field: (W, b, c, ⟨c⟩, ⟨f⟩ on train)."""
        if mf.readout_particles:
            s = mf.field_scale
            W, b, a = jax.lax.fori_loop(
                0, mf.inner_steps,
                lambda i, v: _readout_particle_step(mf, *v, keys[i], state.rho, r, data, T, mf.lr),
                (state.W, state.b, state.c / s))
            c = s * a
            return W, b, c, None, _features(mf, W, data.X, b)[1].T @ c
        W, b = jax.lax.fori_loop(
            0, mf.inner_steps,
            lambda i, Wb: _langevin_step(mf, *Wb, keys[i], state.rho, r, data, kappa2, T, mf.lr), (state.W, state.b))
        return (W, b, *_field_solve(mf, W, b, data, kappa2, data.y))

    def step(state: MFState, key, noise: PosteriorNoise, data: TrainData):
        kappa2, T = noise.kappa**2, noise.temperature
        r = data.y - state.field
        W, b, c, c_out, field = particle_moves(state, jax.random.split(key, mf.inner_steps), r, data, kappa2, T)
        rho = state.rho
        if mf.ard:
            d = W.shape[1]
            N = mf.width
            rho_hat = (mf.alpha0 + N / 2) / (mf.beta(d) + (N / 2) * jnp.mean(W**2, axis=0))
            rho = (1 - mf.ard_damping) * rho + mf.ard_damping * rho_hat
        y_rms = jnp.sqrt(jnp.sum(data.weights * data.y**2))
        resid = jnp.sqrt(jnp.sum(data.weights * (field - state.field) ** 2)) / y_rms
        return MFState(W, c, field, rho, b, c_out), MFInfo(resid)

    return guard(Kernel(init, step))


@dataclass(frozen=True)
class FieldDrift:
    """Convergence of the MF outer iteration, seen through the particles' Monte-Carlo noise: the field
    on the training points averaged over the last ``patience`` logging blocks and over the
    ``patience`` blocks before differ by less than ``tol`` in RMS relative to RMS(y) of the lane.
    ``stop`` is a :func:`~mflab.dynamics.runner.run_chains` stop predicate over the block means
    ``field`` (``block_mean``); a lane that froze (non-finite) stops at the same test."""

    patience: int
    tol: float
    y_rms: np.ndarray  # (lanes,)

    def drift(self, fields: np.ndarray, lane: int) -> float:
        """Drift of one lane from its block-mean fields (n_blocks, P); inf before 2·patience blocks."""
        p = self.patience
        if fields.shape[0] < 2 * p:
            return np.inf
        recent = fields[-2 * p:]
        delta = np.mean(recent[p:], 0) - np.mean(recent[:p], 0)
        return float(np.sqrt(np.mean(delta**2)) / self.y_rms[lane])

    def stop(self, trace) -> np.ndarray:
        fields = trace.values["field"]
        if fields.shape[1] < 2 * self.patience:
            return np.zeros(fields.shape[0], bool)
        drift = np.array([self.drift(fields[li], li) for li in range(fields.shape[0])])
        return (drift < self.tol) | ~trace.values["alive"][:, -1]


class MFConvergenceWarning(UserWarning):
    """The MF / MF-ARD iteration stopped at ``max_iter`` with its field still drifting (or diverged)."""


class MFSolution(NamedTuple):
    """What :func:`mf_solve` returns: the final (guarded) state and its convergence record."""

    state: Guarded
    converged: bool
    drift: float  # relative RMS change of the chunk-averaged field between the last two windows
    iterations: int
    residuals: np.ndarray  # per iteration
    diverged: bool


def mf_solve(mf: MeanField, data: TrainData, noise: PosteriorNoise, key, *, max_iter: int = 2000, chunk: int = 50,
             patience: int = 4, tol: float = 0.02, state: Guarded | None = None,
             on_nonconvergence: str = "warn") -> MFSolution:
    """Iterate the MF / MF-ARD solver until its field settles, and say whether it did.

    Runs ``chunk`` iterations at a time (each chunk one :func:`mf_run`), averages the field on the training
    points over each chunk, and stops when the averages of the last ``patience`` chunks and of the
    ``patience`` before differ by less than ``tol`` in RMS relative to RMS(y) (:class:`FieldDrift`, the
    phase study's test). ``on_nonconvergence``: ``"warn"`` (an :class:`MFConvergenceWarning` naming the drift
    and the fix), ``"raise"`` (a :class:`~mflab.errors.MflabError`) or ``"ignore"``; a diverged solver is
    treated the same way. Non-converged answers depend on the particle count and the budget, so compare
    them only with this flag in hand.

    >>> import jax, jax.numpy as jnp
    >>> from mflab.theory.mean_field import MeanField, mf_solve
    >>> from mflab.conventions import posterior_noise
    >>> from mflab.dynamics import TrainData
    >>> X = jax.random.normal(jax.random.key(0), (20, 3)); y = jnp.sign(X[:, 0])
    >>> sol = mf_solve(MeanField.create("relu", 64, particles=16), TrainData(X, y, jnp.full(20, 1 / 20)),
    ...                posterior_noise(0.3), jax.random.key(1), max_iter=400, chunk=20, on_nonconvergence="ignore")
    >>> sorted(sol._fields)
    ['converged', 'diverged', 'drift', 'iterations', 'residuals', 'state']
    """
    import warnings

    from ..errors import MflabError

    for name, v in (("max_iter", max_iter), ("chunk", chunk), ("patience", patience)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(name, f"must be a positive integer, got {v!r}", f"e.g. {name} = {dict(max_iter=2000, chunk=50, patience=4)[name]}")
    if not tol > 0:
        raise ConfigError("tol", f"must be > 0, got {tol!r}", "e.g. tol = 0.02 (2 % of RMS(y))")
    if on_nonconvergence not in ("warn", "raise", "ignore"):
        raise ConfigError("on_nonconvergence", f"unknown choice '{on_nonconvergence}'", "use 'warn', 'raise' or 'ignore'")
    check_posterior_noise(noise, "mf_solve")
    P, d = data.X.shape
    if state is None:
        state = mf_init(mf, jax.random.fold_in(key, 0x5EED), d, P, data.X.dtype)
    test = FieldDrift(int(patience), float(tol), np.array([float(jnp.sqrt(jnp.mean(data.y**2))) or 1.0]))
    run = jax.jit(lambda s, k: mf_run(mf, s, k, data, noise, int(chunk), observe=lambda st: st.field))
    fields, residuals, drift, it = [], [], np.inf, 0
    while it < max_iter:
        state, res, obs = run(state, key)  # keys fold_in(key, t) with t the state's accepted steps
        it += int(chunk)
        fields.append(np.asarray(jnp.mean(obs, axis=0)))
        residuals.append(np.asarray(res))
        if not bool(state.alive):
            break
        drift = test.drift(np.array(fields), 0)
        if drift < tol:
            break
    diverged = not bool(state.alive)
    converged = (not diverged) and drift < tol
    sol = MFSolution(state, converged, float(drift), it, np.concatenate(residuals), diverged)
    if not converged and on_nonconvergence != "ignore":
        why = (f"diverged at iteration {int(state.diverged_at)}" if diverged else
               f"did not converge in {it} iterations: the field still drifts by {drift:.3g} of RMS(y) > tol = {tol:g}")
        fix = ("fix: lower mf.lr" if diverged else
               "fix: raise max_iter, or raise particles (less Monte-Carlo noise in the drift), or relax tol")
        msg = f"MF{'-ARD' if mf.ard else ''} solver {why}; {fix}"
        if on_nonconvergence == "raise":
            raise MflabError(msg)
        warnings.warn(msg, MFConvergenceWarning, stacklevel=2)
    return sol


def mf_predict(mf: MeanField, state: MFState | Guarded, X):
    """⟨f⟩(X) = Σ_b c_b φ(w_b·x + b_b) (+ ⟨c⟩)."""
    f = _features(mf, state.W, X, state.b)[1].T @ state.c
    return f if state.c_out is None else f + state.c_out


def mf_posterior(mf: MeanField, state: MFState | Guarded, data: TrainData, noise: PosteriorNoise, X) -> Predictive:
    r"""The posterior of f the MF solution implies at inputs X: mean ⟨f⟩ = Σ_b c_b φ(w_b·x) and variance

        Var f(x) = κ² φ(x)ᵀ M⁻¹ φ(x),   M = Φ Ω Φᵀ + (B/N) diag(D),   φ(x)_b = φ(w_b·x + b_b)

    (with an output bias, φ(x) and Φ gain a constant 1 and M the row of :func:`_readout_precision`).

    With the particle cloud frozen, the field solve is the posterior mean of a Bayesian linear
    regression of y on the B particle features (likelihood precision Ω/κ², prior precision (B/N) D/κ²
    on c); this is its posterior covariance. At N → ∞ (γ = ½) it is the NNGP-KRR variance with the
    particles' empirical kernel (tested). It leaves out the fluctuations of the features themselves
    (the particle cloud is a mean, not a sample). Only for the free field model."""
    check_posterior_noise(noise, "mf_posterior")
    if mf.field != "free":
        raise ConfigError("field", "the spread of f is defined for the free field model only",
                          "solve with field = 'free'")
    _, Phi = _features(mf, state.W, data.X, state.b)
    kappa2 = noise.kappa**2
    M = _readout_precision(mf, _with_constant(mf, Phi), data.weights, mf.A * kappa2 + Phi**2 @ data.weights, kappa2)
    phi = _with_constant(mf, _features(mf, state.W, X, state.b)[1]).T  # (n, B (+1))
    var = kappa2 * jnp.sum(phi * jnp.linalg.solve(M, phi.T).T, axis=1)
    return Predictive(mf_predict(mf, state, X), var)


def mf_run(mf: MeanField, state: Guarded, key, data: TrainData, noise: PosteriorNoise, n_iter: int, observe=None):
    """``n_iter`` outer iterations under ``lax.scan``, iteration t with key ``fold_in(key, t)`` counted
    from the state's accepted steps; returns (state, per-iteration residuals, observations)."""

    check_posterior_noise(noise, "mf_run")

    def record(s, info):
        return jnp.where(s.alive, info.residual, jnp.nan), ({} if observe is None else observe(s))

    state, (res, obs) = trajectory(mf_kernel(mf), state, key, noise, data, n_iter, t0=state.steps, record=record)
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
    """Scalar fixed point m = N(1 − m)⟨J_S²/D⟩_{p_m} along a sweep of κ (T = 2κ²; in the given order, normally
    decreasing), starting from the symmetric state (prior particles, m = 0) and warm-starting each
    κ from the previous solution. Returns (m per κ, drift of m over the last half per κ, final state)."""
    if mf.field != "parity":
        raise ConfigError("field", "the population solver needs field = 'parity'", "MeanField.create(..., field='parity')")
    d = data.X.shape[1]
    state0 = mf_init(mf, jax.random.fold_in(key, 0), d, data.X.shape[0], data.X.dtype)

    def at_kappa(state, kk):
        i, kappa = kk

        state, ms = trajectory(mf_kernel(mf), state, jax.random.fold_in(key, i + 1), posterior_noise(kappa), data,
                               iterations, record=lambda s, info: jnp.sum(data.weights * s.field * data.y))
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
