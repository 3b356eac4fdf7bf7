r"""Two-layer network f(x) = N^{-γ} Σ_i a_i φ(w_i·x + b_i) + c (conventions: :mod:`mflab.conventions`).

Hidden biases b_i (``bias``, prior N(0, σ_b²)) and the output bias c (``output_bias``, prior N(0, σ_c²),
learning-rate multiplier of the readout group, as in the authors' single-index script, paper B §8) are
optional.

The gradient of the MSE is written by hand in the N×P layout (pre-activations H = W Xᵀ of shape
N×P), which keeps one chain's activations cache-resident and costs two matmuls per step
(benchmarks/sgld_parity_throughput.py). ``tests/test_networks.py`` checks it against ``jax.grad``.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from ..conventions import Parametrization, get_parametrization
from ..errors import ConfigError
from .activations import Activation, get_activation


class TwoLayerParams(NamedTuple):
    """Parameters of a :class:`TwoLayer` network: first-layer weights W (N, d), readout a (N,), hidden biases
    b (N,) and output bias c (scalar) where the network has them (else None)."""

    W: jax.Array  # (N, d) first-layer weights
    a: jax.Array  # (N,) readout weights
    b: Optional[jax.Array] = None  # (N,) hidden biases, or None
    c: Optional[jax.Array] = None  # () output bias, or None


@dataclass(frozen=True)
class TwoLayer:
    """A two-layer network and its prior. ``gamma=None`` takes γ from the parametrization table."""

    width: int
    activation: Activation
    parametrization: Parametrization
    sigma_a: float = 1.0
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    bias: bool = False
    sigma_c: float = 1.0
    output_bias: bool = False

    @staticmethod
    def create(width: int, activation="relu", parametrization="ntk", gamma: float | None = None,
               sigma_a=1.0, sigma_w=1.0, sigma_b=1.0, bias=False, sigma_c=1.0, output_bias=False) -> "TwoLayer":
        """f(x) = N^{-γ} Σ a_i φ(w_i·x + b_i) + c with the parametrization table of :mod:`mflab.conventions`
        (b_i only with ``bias``, c only with ``output_bias``).

        >>> import jax
        >>> from mflab.networks import TwoLayer
        >>> net = TwoLayer.create(64, "relu", "ntk")
        >>> params = net.init(jax.random.key(0), d=5)
        >>> net.apply(params, jax.random.normal(jax.random.key(1), (3, 5))).shape
        (3,)
        """
        if int(width) != width or width < 1:
            raise ConfigError("width", f"must be a positive integer, got {width!r}", "e.g. width = 512")
        for name, v in (("sigma_a", sigma_a), ("sigma_w", sigma_w), ("sigma_b", sigma_b), ("sigma_c", sigma_c)):
            if not v > 0:
                raise ConfigError(f"{name}", f"must be > 0, got {v!r}", "prior standard deviations are positive")
            if not v <= 1e6:  # also catches inf and NaN
                raise ConfigError(f"{name}", f"must be a finite standard deviation <= 1e6, got {v!r} (its variance "
                                  "overflows float32 sampling and the Langevin drift)", "e.g. 1.0")
        par = parametrization if isinstance(parametrization, Parametrization) else get_parametrization(parametrization)
        if gamma is not None:
            if not (isinstance(gamma, (int, float)) and math.isfinite(gamma)):
                raise ConfigError("gamma", f"must be a finite number, got {gamma!r}", "e.g. 0.5 (NTK) or 1.0 (mean field)")
            par = par.replace_gamma(gamma)
        scale = float(width) ** (-par.gamma)
        if not 1e-12 <= scale <= 1e12:
            raise ConfigError("gamma", f"gives the output multiplier N^-gamma = {scale:.1e} at N = {int(width)}: the "
                              "network output is numerically 0 or unbounded", "use gamma in [0, 1] (0.5 NTK, 1 mean field)")
        return TwoLayer(int(width), get_activation(activation), par, float(sigma_a), float(sigma_w), float(sigma_b),
                        bool(bias), float(sigma_c), bool(output_bias))

    # -- scalings ---------------------------------------------------------------------------
    @property
    def output_scale(self) -> float:
        """N^{-γ}."""
        return float(self.width) ** (-self.parametrization.gamma)

    def prior_variances(self, d: int) -> TwoLayerParams:
        """σ_w²/d, σ_a² N^{-α}, σ_b², σ_c² as a params-shaped pytree of scalars."""
        return TwoLayerParams(self.sigma_w**2 / d, self.sigma_a**2 * self.width ** (-self.parametrization.alpha),
                              self.sigma_b**2 if self.bias else None, self.sigma_c**2 if self.output_bias else None)

    def lr_multipliers(self) -> TwoLayerParams:
        """N^{c_w} for W and b, N^{c_a} for a and c."""
        p = self.parametrization
        return TwoLayerParams(float(self.width) ** p.c_w, float(self.width) ** p.c_a,
                              float(self.width) ** p.c_w if self.bias else None,
                              float(self.width) ** p.c_a if self.output_bias else None)

    # -- functional core ----------------------------------------------------------------
    def init(self, key, d: int) -> TwoLayerParams:
        """Draw parameters from the prior."""
        kw, ka, kb = jax.random.split(key, 3)
        var = self.prior_variances(d)
        W = jnp.sqrt(var.W) * jax.random.normal(kw, (self.width, d))
        a = jnp.sqrt(var.a) * jax.random.normal(ka, (self.width,))
        b = jnp.sqrt(var.b) * jax.random.normal(kb, (self.width,)) if self.bias else None
        c = jnp.sqrt(var.c) * jax.random.normal(jax.random.fold_in(key, 3), ()) if self.output_bias else None
        return TwoLayerParams(W, a, b, c)

    def preactivations(self, params: TwoLayerParams, X) -> jax.Array:
        """H = W Xᵀ (+ b), shape (N, P)."""
        H = params.W @ X.T
        return H if params.b is None else H + params.b[:, None]

    def apply(self, params: TwoLayerParams, X) -> jax.Array:
        """f(X), shape (P,)."""
        f = self.output_scale * (params.a @ self.activation.fn(self.preactivations(params, X)))
        return f if params.c is None else f + params.c

    def mse_value_and_grad(self, params: TwoLayerParams, X, y, weights=None):
        """L = Σ_μ w_μ (f(x_μ) − y_μ)² and ∇L, by hand. ``weights`` defaults to 1/P
        (the per-sample mean); a 0/1 mask divided by its sum selects a subset (padding)."""
        P = X.shape[0]
        s = self.output_scale
        H = self.preactivations(params, X)
        A = self.activation.fn(H)
        r = s * (params.a @ A) - y
        if params.c is not None:
            r = r + params.c
        w = jnp.full((P,), 1.0 / P, dtype=H.dtype) if weights is None else weights
        loss = jnp.sum(w * r * r)
        g = 2.0 * w * r  # dL/df
        ga = s * (A @ g)
        if self.activation.step_derivative:  # φ' is a mask: no second elementwise map over H
            G = jnp.where(H > 0, g[None, :], 0.0)
        else:
            G = self.activation.deriv(H) * g[None, :]
        gW = (s * params.a)[:, None] * (G @ X)
        gb = None if params.b is None else s * params.a * jnp.sum(G, axis=1)
        gc = None if params.c is None else jnp.sum(g)
        return loss, TwoLayerParams(gW, ga, gb, gc)
