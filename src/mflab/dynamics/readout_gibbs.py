r"""An exact Gibbs draw of a two-layer network's readout given its first layer, composed with a sampler.

For f(x) = s Σ_i a_i φ(w_i·x + b_i) + c (s = N^{−γ}) the posterior p(θ | D) ∝ exp(−L/T − ½ Σ θ²/σ²) with
L = Σ_μ ω_μ (f(x_μ) − y_μ)² is, given the first layer (W, b), Gaussian in the readout u = (a, c): with the
features Φ_μ = (s φ(w_i·x_μ + b_i))_i (and a 1 for c),

    Λ = (2/T) Φᵀ diag(ω) Φ + diag(1/σ_u²),    u | W, b ~ N(Λ⁻¹ (2/T) Φᵀ diag(ω) y,  Λ⁻¹).

:func:`readout_conditional` computes its mean and the Cholesky factor Λ = R Rᵀ; :func:`draw_readout` draws
u = mean + R⁻ᵀ ξ. :func:`with_readout_gibbs` composes a posterior sampler's kernel with this draw every
``every`` steps (after the steps whose count is a multiple of ``every``). The draw leaves p(θ | D)
invariant exactly, whatever the first layer, so the composed chain has the sampler's own stationary law
(for the kinetic sampler, the draw also refreshes the readout's velocity from its stationary law
N(0, T m) and recomputes the cached gradient, which depends on a). What it changes is speed: the readout
no longer has to follow the first layer by diffusion, and the first layer sees the readout that fits its
features at every draw (measured on sparse parity at the published setting: benchmarks/
posterior_sampler_equilibration.py, docs/samplers.md).

Cost of a draw: the Gram matrix Φᵀ diag(ω) Φ (P N² multiply-adds), a Cholesky factorisation (N³/3) and, for
the kinetic sampler, one more gradient; measured at d = 35, N = 512, P = 2000 a draw every 10 steps makes the
kinetic step 1.63× dearer (1.72× SGLD's step), every 30 steps 1.17× SGLD's: a draw costs 4–9 steps
(benchmarks/sgld_parity_throughput.py, docs/samplers.md).
The composed kernel is clocked (:mod:`.kernel`): it decides whether a draw is due from the step index
the runner passes, the same for every chain, so under a full ``vmap`` over chains (``chain_batch = C``,
the accelerator layout) the ``lax.cond`` stays a branch and the draw's work is done only when it is due
(a per-chain predicate, the state's own step count, would make it a select that draws at every step:
measured with 8 chains vmapped, a draw every 10 steps costs 1.54× SGLD's step clocked and 7.2× on the
per-chain count; the count is the fallback when ``step`` is called without t).

The factorisation is in the parameters' precision (float32 by default). Measured against float64
(scripts/readout_draw_precision.py, N = 512): with P ≥ N it is exact to 10⁻² posterior s.d. at every κ of
paper B's grid; with P < N at κ = 5·10⁻⁴ (condition number 7·10⁵) the draw's mean is off by up to 0.19 s.d.
and its covariance by 2%: use ``precision = "float64"`` there. A draw whose factor is not finite
(Λ numerically singular) makes the chain's state non-finite, and the divergence guard
(:func:`mflab.dynamics.kernel.guard`) freezes the chain with its usual diagnostic.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from .kernel import Kernel


def check_period(every) -> int:
    """``every`` as an int, or one line (:class:`~mflab.errors.ConfigError`) when it is not a positive whole
    number of steps."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ConfigError("readout_gibbs_every", f"must be a positive whole number of steps, got {every!r}",
                          "e.g. readout_gibbs_every = 10, or omit it for no readout draw")
    return int(every)


def _features(net, params, X):
    """Φ (P, K): s φ(W x + b) per hidden unit, then a column of ones when the net has an output bias c."""
    A = net.output_scale * net.activation.fn(net.preactivations(params, X)).T
    return A if params.c is None else jnp.concatenate([A, jnp.ones((X.shape[0], 1), A.dtype)], axis=1)


def readout_conditional(net, params, data, temperature, prior_var):
    """(mean, R) of the readout u = (a, c) given (W, b) (module docstring): u ~ N(mean, (R Rᵀ)⁻¹), R lower
    triangular. ``data`` is a :class:`~mflab.dynamics.TrainData`, ``prior_var`` the net's
    :meth:`~mflab.networks.TwoLayer.prior_variances`."""
    Phi = _features(net, params, data.X)
    prec_prior = jnp.full(params.a.shape, 1.0 / prior_var.a, Phi.dtype)
    if params.c is not None:
        prec_prior = jnp.concatenate([prec_prior, jnp.full((1,), 1.0 / prior_var.c, Phi.dtype)])
    scale = 2.0 / temperature
    weighted = Phi * data.weights[:, None]
    lam = scale * (weighted.T @ Phi) + jnp.diag(prec_prior)
    R = jnp.linalg.cholesky(lam)
    mean = jax.scipy.linalg.cho_solve((R, True), scale * (weighted.T @ data.y))
    return mean, R


def draw_readout(net, params, data, temperature, prior_var, key):
    """``params`` with (a, c) replaced by an exact draw from their conditional given (W, b)."""
    mean, R = readout_conditional(net, params, data, temperature, prior_var)
    xi = jax.random.normal(key, mean.shape, mean.dtype)
    u = (mean + jax.scipy.linalg.solve_triangular(R, xi, lower=True, trans="T")).astype(params.a.dtype)
    N = params.a.shape[0]
    return params._replace(a=u[:N], c=None if params.c is None else u[N])


def with_readout_gibbs(kernel: Kernel, net, prior_var, every: int, velocity_mult=None) -> Kernel:
    """``kernel`` (SGLD or kinetic Langevin on ``net``'s posterior, unguarded) followed, after every step
    whose count is a multiple of ``every``, by :func:`draw_readout` (module docstring). ``velocity_mult``:
    the kinetic sampler's inverse masses (its M⁻¹m_θ pytree), whose readout velocities the draw refreshes
    from N(0, T m); None for SGLD, whose state is only the parameters and the step count. The state's
    caches (the kinetic gradient and loss) are recomputed with ``kernel.init``."""
    every = check_period(every)

    def redraw(state, key, T, data):
        k_draw, k_vel = jax.random.split(key)
        params = draw_readout(net, state.params, data, T, prior_var, k_draw)
        fresh = kernel.init(params, data, None, T)  # caches at the new readout (for SGLD: the params alone)
        if velocity_mult is None:
            return fresh._replace(step=state.step)
        v = state.velocity
        va = jnp.sqrt(T * velocity_mult.a) * jax.random.normal(k_vel, v.a.shape, v.a.dtype)
        vc = (None if v.c is None else
              jnp.sqrt(T * velocity_mult.c) * jax.random.normal(jax.random.fold_in(k_vel, 1), v.c.shape, v.c.dtype))
        return fresh._replace(velocity=v._replace(a=va.astype(v.a.dtype), c=vc), step=state.step)

    def step(state, key, hyper, data, t=None):
        k_step, k_draw = jax.random.split(key)
        state, info = kernel.step(state, k_step, hyper, data, *((t,) if kernel.clocked else ()))
        due = (state.step if t is None else t + 1) % every == 0  # t + 1: the steps taken after this one
        state = jax.lax.cond(due, lambda s: redraw(s, k_draw, hyper.temperature, data), lambda s: s, state)
        return state, info

    return Kernel(kernel.init, step, clocked=True)

