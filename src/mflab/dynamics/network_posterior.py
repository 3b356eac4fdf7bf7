r"""Sampling the posterior of a two-layer network: its kernel (SGLD or kinetic Langevin), and f in one call.

The posterior of the Bayesian two-layer studies, p(θ | D) ∝ exp(−MSE(f_θ)/T − ½ Σ θ²/σ²) with
T = 2κ² (:func:`mflab.conventions.posterior_noise`) and the network's own prior variances and
learning-rate multipliers. :func:`network_posterior_kernel` is the one place that kernel is built
(the studies use it too); :func:`sample_posterior` runs C chains of it on shared data and returns the
logged posterior samples of f on test inputs, the library's end-to-end entry point.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..conventions import PosteriorNoise, check_posterior_noise
from ..errors import ConfigError
from ..theory.predictive import Predictive
from .kernel import Kernel, guard
from .kinetic_langevin import KineticHyper, critical_friction, kinetic_langevin
from .readout_gibbs import check_period, with_readout_gibbs
from .sgld import Hyper, langevin
from .objectives import TrainData, mse_objective
from .runner import RunResult, run_chains, stack_chains
from .schedules import constant


SAMPLERS = ("sgld", "kinetic")  # overdamped Langevin (mflab.dynamics.sgld), BAOAB (mflab.dynamics.kinetic_langevin)


class Preconditioner(NamedTuple):
    r"""A constant preconditioner per parameter group, M⁻¹ = diag(``first_layer`` on W and b, ``readout`` on a
    and c), multiplying the parametrization's learning-rate multipliers m_θ. SGLD steps
    θ ← θ − η M⁻¹m[∇L + (T/σ²)θ] + √(2Tη M⁻¹m) ξ and the kinetic sampler takes M⁻¹m as its inverse mass;
    a constant positive M leaves the stationary law p(θ|D) unchanged (the Langevin generator with drift
    −M⁻¹∇Φ and diffusion T M⁻¹ has exp(−Φ/T) as its invariant density for every constant M > 0), and
    changes only how fast each group moves and the step's discretisation bias. The default (1, 1) is
    the plain sampler."""

    first_layer: float = 1.0
    readout: float = 1.0


def posterior_multipliers(net, preconditioner: Preconditioner | None = None):
    """The net's learning-rate multipliers times ``preconditioner`` (:class:`Preconditioner`): the
    sampler's per-group M⁻¹m_θ."""
    m = net.lr_multipliers()
    if preconditioner is None or tuple(preconditioner) == (1.0, 1.0):
        return m
    fl, ro = float(preconditioner.first_layer), float(preconditioner.readout)
    if not (fl > 0 and ro > 0):
        raise ConfigError("preconditioner", f"must be positive, got first_layer = {fl:g}, readout = {ro:g}",
                          "e.g. first_layer = 4.0, readout = 1.0 (1 is the plain sampler)")
    scale = lambda v, s: None if v is None else v * s  # noqa: E731
    return type(m)(scale(m.W, fl), scale(m.a, ro), scale(m.b, fl), scale(m.c, ro))


def network_posterior_kernel(net, d: int, schedule=None, batch_size: int | None = None,
                             noise: str = "independent", sampler: str = "sgld",
                             preconditioner: Preconditioner | None = None, readout_gibbs_every: int | None = None) -> Kernel:
    """The guarded kernel of ``net``'s posterior on d-dimensional inputs (module docstring): MSE objective
    (minibatches of ``batch_size``; None: full batch), the net's prior variances and learning-rate
    multipliers, a step-size ``schedule`` (default constant). ``sampler``: "sgld" or "kinetic" (same
    stationary law; its hyperparameters from :func:`posterior_hyper`), a constant per-group
    ``preconditioner`` (:class:`Preconditioner`; None: the plain sampler), and with ``readout_gibbs_every`` = K
    an exact draw of the readout (a, c) from its Gaussian conditional given (W, b) after every K-th step
    (:mod:`mflab.dynamics.readout_gibbs`; None: never). Every state starts with
    ``kernel.init(params, data, key, temperature)``."""
    if sampler not in SAMPLERS:
        from ..errors import suggest

        raise ConfigError("sampler", f"unknown sampler '{sampler}'", suggest(sampler, SAMPLERS))
    objective, var, mult = mse_objective(net, batch_size), net.prior_variances(d), posterior_multipliers(net, preconditioner)
    if sampler == "kinetic":
        if noise != "independent":
            raise ConfigError("noise", f"noise = '{noise}' is an SGLD option; the kinetic sampler draws independent "
                              "noise", "use noise = 'independent' or sampler = 'sgld'")
        kernel = kinetic_langevin(objective, var, schedule or constant(), mult)
    else:
        kernel = langevin(objective, var, schedule or constant(), mult, noise)
    if readout_gibbs_every is not None:
        check_readout_gibbs(readout_gibbs_every, net, noise, mult)
        kernel = with_readout_gibbs(kernel, net, var, readout_gibbs_every, mult if sampler == "kinetic" else None)
    return guard(kernel)


def check_readout_gibbs(every, net, noise: str, mult) -> None:
    """One line for a readout draw that cannot be done: a period that is not a positive integer, a frozen
    readout (its multiplier 0: the draw would move what the posterior holds fixed), or coupled noise (the
    draw breaks the shared Brownian increments of a width coupling)."""
    check_period(every)
    if not mult.a:
        raise ConfigError("readout_gibbs_every", "the readout is frozen in this parametrization (its learning-rate "
                          "multiplier is 0), so there is no readout posterior to draw from", "omit readout_gibbs_every")
    if noise == "coupled":
        raise ConfigError("readout_gibbs_every", "an exact readout draw breaks the coupled noise shared across widths",
                          "use noise = 'independent', or omit readout_gibbs_every")


def posterior_hyper(sampler: str, net, d: int, temperature, lr, friction=None,
                    preconditioner: Preconditioner | None = None):
    """Per-chain hyperparameters of :func:`network_posterior_kernel`: ``Hyper(T, η)`` for SGLD,
    ``KineticHyper(T, η, γ)`` for the kinetic sampler with γ = ``friction`` or, when None, each chain's
    :func:`~mflab.dynamics.kinetic_langevin.critical_friction` at its T (with the kernel's
    ``preconditioner``: the masses set the prior modes' frequencies). ``temperature`` and ``lr`` are
    arrays with a leading chain axis (or scalars)."""
    T = jnp.asarray(temperature)
    lr = jnp.broadcast_to(jnp.asarray(lr, T.dtype), T.shape)
    if sampler != "kinetic":
        return Hyper(T, lr)
    if friction is None:
        var, mult = net.prior_variances(d), posterior_multipliers(net, preconditioner)
        gam = np.array([critical_friction(float(t), var, mult) for t in np.ravel(np.asarray(T))]).reshape(T.shape)
    else:
        gam = np.full(T.shape, float(friction))
    return KineticHyper(T, lr, jnp.asarray(gam, T.dtype))


class PosteriorSamples(NamedTuple):
    """What :func:`sample_posterior` returns: ``f`` (C, S, n) samples of f on the test inputs (S logged
    states per chain after burn-in), ``steps`` (S,) their step numbers, and the runner's result."""

    f: np.ndarray
    steps: np.ndarray
    result: RunResult

    def predictive(self) -> Predictive:
        """Posterior mean and variance of f over every chain and sample (``.errors(y)``: both errors)."""
        alive = np.asarray(self.result.states.alive, bool)
        return Predictive.from_samples(jnp.asarray(self.f[alive].reshape(-1, self.f.shape[-1])))


def sample_posterior(net, X_train, y_train, X_test, noise: PosteriorNoise, key, *, chains: int = 4,
                     steps: int = 10_000, lr: float = 5e-2, log_every: int = 1000, burn_in: float = 0.5,
                     progress: bool = False) -> PosteriorSamples:
    """SGLD samples of f on ``X_test`` under ``net``'s posterior at noise ``noise`` (T = 2κ²): ``chains``
    chains from independent prior draws, ``steps`` steps of base rate ``lr``, a sample every ``log_every``
    steps, the first ``burn_in`` fraction discarded. Chains run inside one compiled loop
    (:func:`mflab.dynamics.run_chains`); a diverging chain is frozen, reported and left out of
    :meth:`PosteriorSamples.predictive`.

    >>> import jax
    >>> from mflab.conventions import posterior_noise
    >>> from mflab.networks import TwoLayer
    >>> from mflab.tasks import SparseParity, make_dataset
    >>> data = make_dataset(SparseParity(d=6, k=2), jax.random.key(0), n_train=50, n_test=64)
    >>> s = sample_posterior(TwoLayer.create(16, "relu", "ntk"), data.X_train, data.y_train, data.X_test,
    ...                      posterior_noise(0.1), jax.random.key(1), chains=2, steps=200, log_every=50)
    >>> s.f.shape
    (2, 2, 64)
    """
    check_posterior_noise(noise, "sample_posterior")
    for name, v in (("chains", chains), ("steps", steps), ("log_every", log_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(name, f"must be a positive integer, got {v!r}", "count chains and steps in whole numbers")
    if steps % log_every:
        raise ConfigError("steps", f"{steps} is not a multiple of log_every = {log_every}",
                          f"use steps = {max(1, steps // log_every) * log_every}")
    if not 0 <= burn_in < 1:
        raise ConfigError("burn_in", f"must be in [0, 1), got {burn_in!r}", "e.g. burn_in = 0.5")
    if not lr > 0:
        raise ConfigError("lr", f"must be > 0, got {lr!r}", "e.g. lr = 5e-2")
    X_train, y_train = jnp.asarray(X_train), jnp.asarray(y_train)
    P, d = X_train.shape
    kernel = network_posterior_kernel(net, d)
    k_init, k_run = jax.random.split(key)
    train = stack_chains(TrainData.uniform(X_train, y_train), chains)
    states = jax.vmap(lambda k, dat: kernel.init(net.init(k, d), dat))(jax.random.split(k_init, chains), train)
    hyper = stack_chains(Hyper(jnp.asarray(noise.temperature, X_train.dtype), jnp.asarray(lr, X_train.dtype)), chains)
    res = run_chains(kernel, states, jax.random.split(k_run, chains), hyper, train, n_steps=steps, log_every=log_every,
                     observe=lambda p, _: {"f": net.apply(p, X_test)}, progress=progress, desc=f"SGLD {chains} chains",
                     divergence_fix="lower lr or raise the noise κ")
    keep = res.trace.steps > burn_in * steps
    return PosteriorSamples(np.asarray(res.trace.values["f"])[:, keep], res.trace.steps[keep], res)
