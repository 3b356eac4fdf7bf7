r"""Mean-field Langevin dynamics of a μP two-layer network as an N-particle system.

Network and objective (``shared/papers/A_muP_mean_field_identifiability.md`` §1; conventions and the
mapping onto the Langevin kernel in :mod:`mflab.conventions`, "Mean-field Langevin dynamics"):

    f_μ(x) = ∫ a σ(w·x) dμ(a, w) = (1/N) Σ_i a_i σ(w_i·x),
    F_τ(μ) = ½ E(f_μ(x) − y)² + (λ/2) ∫|θ|² dμ + τ ∫ μ log μ,
    θ_i ← θ_i − η [∇V_{μ̂}(θ_i) + λ θ_i] + √(2ητ) ξ_i.

Two ways to evaluate the risk (the notes' §1.4):

* **data mode** (:class:`DataObjective`): the empirical risk over a fixed sample of n points, or an
  online minibatch of fresh Gaussian inputs each step (``online_batch``), labels y = f*(x) + noise;
* **population-kernel mode** (:class:`PopulationObjective`): x ~ N(0, I_d) integrated out in closed
  form, no data noise:

      R(μ) = ½ [ (1/N²) Σ_ij a_i a_j K(w_i, w_j) − (2/N) Σ_i a_i E[f*(x) σ(w_i·x)] + E f*² ],
      K(w, w') = E[σ(w·x) σ(w'·x)]  (the activation's dual kernel at (|w|², |w'|², w·w')).

  For a Hermite-dictionary target f* = Σ_j b_j Σ_k c_jk h_k(v_j·x), |v_j| = 1 (Mehler),
  E[f* σ(w·x)] = Σ_j b_j Σ_k c_jk c_k^σ(|w|) (v_j·w/|w|)^k; for a bias-free teacher network,
  E[f* σ(w·x)] = s Σ_j a*_j K(w*_j, w). Cost O(N² d) per step.

Particles live in a :class:`~mflab.networks.two_layer.TwoLayerParams` (rows of W and a are
particles), so the kernel's ``"coupled"`` noise gives particle i the same Brownian increments in
systems of any size, and :func:`init_particles` gives it the same initial point: the synchronous
coupling of propagation-of-chaos experiments.

Initialisations (:class:`ParticleInit`): θ = (a, w) with independent coordinates, Gaussian
N(0, s²), Laplace(b) or Student-t(ν)·scale; the first-layer coordinates are divided by √d when
``scale_w_by_dim`` (w·x = O(1) for x ~ N(0, I_d), the notes' default).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from ..conventions import mfld_langevin_settings, mfld_lr_multiplier
from ..errors import ConfigError, suggest
from ..networks.activations import get_activation
from ..theory.gaussian import population_risk
from ..networks.two_layer import TwoLayer, TwoLayerParams
from .kernel import Kernel, guard
from .sgld import Hyper, langevin
from .objectives import TrainData
from .schedules import constant

INIT_FAMILIES = ("gaussian", "laplace", "student-t")


@dataclass(frozen=True)
class ParticleInit:
    """Initial law μ0 of θ = (a, w): i.i.d. coordinates of ``family`` with ``scale`` (s for Gaussian,
    b for Laplace, the scale of a Student-t with ``dof`` = ν degrees of freedom)."""

    family: str = "gaussian"
    scale: float = 1.0
    dof: float = 3.0
    scale_w_by_dim: bool = True

    def validate(self, field: str = "init"):
        if self.family not in INIT_FAMILIES:
            raise ConfigError(f"{field}.family", f"unknown initialisation '{self.family}'",
                              suggest(self.family, INIT_FAMILIES))
        if not self.scale > 0:
            raise ConfigError(f"{field}.scale", f"must be > 0, got {self.scale!r}", "e.g. scale = 1.0")
        if self.family == "student-t" and not self.dof > 0:
            raise ConfigError(f"{field}.dof", f"must be > 0, got {self.dof!r}", "e.g. dof = 3")
        return self

    def sample(self, key, shape, dtype=jnp.float32):
        if self.family == "gaussian":
            z = jax.random.normal(key, shape, dtype)
        elif self.family == "laplace":
            z = jax.random.laplace(key, shape, dtype)
        else:
            z = jax.random.t(key, self.dof, shape, dtype)
        return self.scale * z


def init_particles(init: ParticleInit, key, n: int, d: int, dtype=jnp.float32) -> TwoLayerParams:
    """n particles; particle i depends only on (key, i), so the first n of a larger draw are these."""
    init.validate()

    def one(i):
        th = init.sample(jax.random.fold_in(key, i), (d + 1,), dtype)
        w = th[1:] / jnp.sqrt(d) if init.scale_w_by_dim else th[1:]
        return w, th[0]

    W, a = jax.vmap(one)(jnp.arange(n))
    return TwoLayerParams(W, a)


def particle_matrix(params: TwoLayerParams) -> jax.Array:
    """θ_i = (a_i, w_i) as rows, shape (N, 1 + d)."""
    return jnp.concatenate([params.a[..., None], params.W], axis=-1)


def mup_network(width: int, activation) -> TwoLayer:
    """f = (1/N) Σ a_i σ(w_i·x): the ``mup`` row of the two-layer table."""
    return TwoLayer.create(width, activation, "mup")


def _with_weight_decay(loss, grads: TwoLayerParams, params: TwoLayerParams, lam: float, width: int):
    """L_N = loss + (λ/N) Σ|θ_i|² (module docstring of :mod:`mflab.conventions`)."""
    if lam == 0:
        return loss, grads
    c = lam / width
    loss = loss + c * (jnp.sum(params.W**2) + jnp.sum(params.a**2))
    return loss, TwoLayerParams(grads.W + 2 * c * params.W, grads.a + 2 * c * params.a, None)


@dataclass(frozen=True)
class DataObjective:
    """Data mode: L_N of the empirical risk over ``data`` (a TrainData, weights summing to 1) or, with
    ``online_batch``, over a fresh Gaussian minibatch of that size each step, labels ``target(X)`` +
    N(0, label_noise²) drawn from the step key (``data`` is then unused). Width-free: the system
    (:class:`MFLDSystem`) supplies N."""

    activation: str = "erf"
    lam: float = 0.0
    online_batch: int | None = None
    target: Callable | None = None
    label_noise: float = 0.0

    def grad_fn(self, width: int) -> Callable:
        """grad_fn(params, data, key) of L_N for ``width`` particles."""
        if self.online_batch is not None and self.target is None:
            raise ConfigError("online_batch", "online minibatches need the target function", "pass target=task.target")
        net, lam, batch, target, label_noise = (mup_network(width, self.activation), self.lam, self.online_batch,
                                                self.target, self.label_noise)

        def grad_fn(params, data: TrainData, key):
            if batch is None:
                loss, g = net.mse_value_and_grad(params, data.X, data.y, data.weights)
            else:
                kx, ke = jax.random.split(key)
                X = jax.random.normal(kx, (batch, params.W.shape[1]), params.W.dtype)
                y = target(X) + label_noise * jax.random.normal(ke, (batch,), X.dtype)
                loss, g = net.mse_value_and_grad(params, X, y)
            return _with_weight_decay(loss, g, params, lam, width)

        return grad_fn


@dataclass(frozen=True)
class PopulationObjective:
    """Population-kernel mode: L_N = 2R(μ̂) + (λ/N)Σ|θ_i|² with x ~ N(0, I_d) integrated out in closed
    form (autodiff of the closed form; ``data`` and ``key`` are unused). Width-free like
    :class:`DataObjective`."""

    activation: str
    target: object  # a HermiteDictionary or a bias-free Teacher (``gaussian_cross_moments``)
    lam: float = 0.0

    def grad_fn(self, width: int) -> Callable:
        act, target, lam = get_activation(self.activation), self.target, self.lam
        power = float(target.target_power)

        def grad_fn(params, data, key):
            p = TwoLayerParams(params.W, params.a)
            loss, g = jax.value_and_grad(lambda q: 2 * population_risk(act, target, q, target_power=power))(p)
            return _with_weight_decay(loss, g, p, lam, width)

        return grad_fn


@dataclass(frozen=True)
class MFLDSystem:
    """Mean-field Langevin noisy GD of ``width`` = N particles on ``objective``: the one place N enters
    (the objective's 1/N weight decay, the μP rate multiplier N, the temperature 2τ/N of
    :func:`mflab.conventions.mfld_langevin_settings`). ``noise="coupled"``: particle i's increments
    depend only on (chain key, step, i).

    >>> import jax
    >>> from mflab.dynamics import TrainData
    >>> from mflab.dynamics.mean_field_langevin import DataObjective, MFLDSystem, ParticleInit, init_particles
    >>> system = MFLDSystem(DataObjective("erf", lam=1e-3), width=32)
    >>> X = jax.random.normal(jax.random.key(0), (50, 3)); data = TrainData(X, X[:, 0], jax.numpy.full(50, 1 / 50))
    >>> state = system.kernel.init(init_particles(ParticleInit(), jax.random.key(1), 32, 3))
    >>> state, info = system.kernel.step(state, jax.random.key(2), system.hyper(eta=0.1, tau=1e-3), data)
    >>> state.params.W.shape, bool(state.alive)
    ((32, 3), True)
    """

    objective: DataObjective | PopulationObjective
    width: int
    noise: str = "coupled"

    @functools.cached_property
    def kernel(self) -> Kernel:
        """The guarded Langevin kernel of the system, ready for :func:`mflab.dynamics.runner.run_chains`."""
        lr_mult = mfld_lr_multiplier(self.width)
        return guard(langevin(self.objective.grad_fn(self.width), TwoLayerParams(None, None, None), constant(),
                              TwoLayerParams(lr_mult, lr_mult, None), noise=self.noise))

    def memory_bytes(self, d: int, replicas: int, snapshots: int, n_data: int = 0, word: int = 4) -> float:
        """Bytes a run of ``replicas`` chains keeps alive (the estimate :mod:`mflab.resources` checks):
        four copies of the N·(1+d) particle matrix per replica (state, gradient, noise, update), the
        ``snapshots`` logged clouds, and the step's largest intermediate, three N×n_data activation
        arrays per replica in data mode or three N×N particle kernels in population mode."""
        N = self.width
        inter = N * (n_data if isinstance(self.objective, DataObjective) else N)
        return float(word * replicas * ((4 + snapshots) * N * (1 + d) + 3 * inter))

    def hyper(self, eta: float, tau: float, dtype=jnp.float32) -> Hyper:
        """The kernel's per-chain hyperparameters for step η and entropy weight τ."""
        s = mfld_langevin_settings(self.width, eta, tau)
        return Hyper(jnp.asarray(s.temperature, dtype), jnp.asarray(s.lr, dtype))
