r"""Activation functions and their Gaussian calculus.

Each :class:`Activation` carries

* ``fn`` and its derivative ``deriv`` (written by hand; checked against ``jax.grad`` in tests);
* ``parity``: ``"odd"``, ``"even"`` or ``None`` (used by symmetry canonicalisation);
* Hermite coefficients c_k(r) = E[φ(r z) h_k(z)] (see :mod:`mflab.maths.hermite`): closed form
  for ReLU and erf, Gauss–Hermite quadrature otherwise (exact for polynomials);
* the dual kernel E[φ(u) φ(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]): closed form for ReLU
  (arc-cosine, Cho & Saul 2009) and erf (Williams 1997), the Mehler series otherwise;
* the same for the derivative, E[φ'(u) φ'(v)], which the NTK needs.

Closed forms used
-----------------
ReLU, k ≥ 2 even:  E[relu(z) He_k(z)] = (-1)^{(k-2)/2} (k-3)!! / √(2π)   (integration by parts,
He_k φ_N = (-1)^k φ_N^{(k)}), c_0 = r/√(2π), c_1 = r/2, odd k ≥ 3 vanish; c_k(r) = r · E/√(k!).

erf, k odd:  E[erf(r z) He_k(z)] = (2r/√π) s (k-2)!! (s² - 1)^{(k-1)/2},  s² = 1/(1 + 2r²)
(Stein's lemma plus E[He_m(s u)] = (m-1)!! (s² - 1)^{m/2}); even k vanish.

ReLU:  E[relu(u) relu(v)] = √(q1 q2)/(2π) (sin θ + (π - θ) cos θ),  cos θ = c/√(q1 q2);
       E[relu'(u) relu'(v)] = (π - θ)/(2π).
erf:   E[erf(u) erf(v)] = (2/π) arcsin(2c / √((1 + 2q1)(1 + 2q2)));
       E[erf'(u) erf'(v)] = (4/π) / √((1 + 2q1)(1 + 2q2) - 4c²).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp

from ..errors import ConfigError, suggest
from ..maths.hermite import hermite_coefficients_quadrature, log_double_factorial, log_sqrt_factorial, mehler_kernel

Array = jax.Array
MEHLER_ORDER = 40  # default truncation of the Mehler series for activations without a closed form
QUAD_NODES = 200


@dataclass(frozen=True)
class Activation:
    """An activation σ with its derivative and what is known about it in closed form (parity, Hermite
    coefficients, dual kernels); the Gaussian calculus falls back to quadrature for what it lacks.
    Register a new one by name with :func:`register_activation`."""

    name: str
    fn: Callable[[Array], Array]
    deriv: Callable[[Array], Array]
    parity: Optional[str] = None  # "odd", "even" or None
    hermite_closed: Optional[Callable] = field(default=None, repr=False)  # (k_max, r) -> (k_max+1, *r.shape)
    dual_closed: Optional[Callable] = field(default=None, repr=False)  # (q1, q2, c) -> E[φ(u)φ(v)]
    deriv_dual_closed: Optional[Callable] = field(default=None, repr=False)  # (q1, q2, c) -> E[φ'(u)φ'(v)]
    polynomial_degree: Optional[int] = None  # Hermite support is finite for polynomials
    second_moment_closed: Optional[Callable] = field(default=None, repr=False)  # q -> E[φ(u)²], u ~ N(0, q)
    step_derivative: bool = False  # φ' is a 0/1 mask (ReLU): gradients need no second elementwise map
    smooth: bool = True  # φ is C² (the log-Sobolev / uniform-in-time propagation-of-chaos results assume it)
    homogeneity: Optional[float] = None  # p with φ(tz) = t^p φ(z) for all t > 0 (ReLU 1, a monomial its degree)

    def __call__(self, x):
        return self.fn(x)

    # -- Hermite calculus -------------------------------------------------------------
    def _method(self, method: str, closed) -> bool:
        """True to use the closed form. method: 'auto' (closed form when known), 'closed' (required:
        an error names the activations that have one), 'series' (quadrature / Mehler)."""
        if method == "closed" and closed is None:
            have = sorted(n for n, a in ACTIVATIONS.items() if a.hermite_closed is not None)
            raise ConfigError("activation", f"'{self.name}' has no closed form here (closed forms: {', '.join(have)})",
                              "use method='series' (quadrature / Mehler series) or one of those activations")
        if method not in ("auto", "closed", "series"):
            raise ConfigError("method", f"unknown method '{method}'", "use 'auto', 'closed' or 'series'")
        return closed is not None and method != "series"

    def hermite_coefficients(self, k_max: int, r=1.0, n_nodes: int = QUAD_NODES, method: str = "auto") -> Array:
        """c_k(r) = E[φ(r z) h_k(z)], k = 0..k_max (closed form where known, see ``_method``)."""
        if self._method(method, self.hermite_closed):
            return self.hermite_closed(k_max, jnp.asarray(r, dtype=jnp.result_type(float)))
        return hermite_coefficients_quadrature(self.fn, k_max, r, n_nodes)

    def deriv_hermite_coefficients(self, k_max: int, r=1.0, n_nodes: int = QUAD_NODES) -> Array:
        """Hermite coefficients of φ' (quadrature)."""
        return hermite_coefficients_quadrature(self.deriv, k_max, r, n_nodes)

    # -- dual kernels --------------------------------------------------------------------
    def dual(self, q1, q2, c, order: int = MEHLER_ORDER, method: str = "auto") -> Array:
        """E[φ(u) φ(v)], (u, v) ~ N(0, [[q1, c], [c, q2]]); broadcasting over arrays."""
        q1, q2, c = (jnp.asarray(t, dtype=jnp.result_type(float)) for t in (q1, q2, c))
        if self._method(method, self.dual_closed):
            return self.dual_closed(q1, q2, c)
        return _mehler(lambda k, r: self.hermite_coefficients(k, r, method=method), q1, q2, c, order)

    def second_moment(self, q, order: int = MEHLER_ORDER) -> Array:
        """E[φ(u)²], u ~ N(0, q): the diagonal of the dual kernel with a finite gradient in q (the
        closed duals have infinite slope in c at c = q). Closed form for ReLU (q/2) and erf
        ((2/π) arcsin(2q/(1+2q))); otherwise the Mehler series at c = q, the same truncation as the
        off-diagonal entries (so that identical neurons have Gram entries that agree exactly)."""
        q = jnp.asarray(q, dtype=jnp.result_type(float))
        if self.second_moment_closed is not None:
            return self.second_moment_closed(q)
        return self.dual(q, q, q, order)

    def deriv_dual(self, q1, q2, c, order: int = MEHLER_ORDER) -> Array:
        """E[φ'(u) φ'(v)] for the same Gaussian pair (the NTK's derivative kernel)."""
        q1, q2, c = (jnp.asarray(t, dtype=jnp.result_type(float)) for t in (q1, q2, c))
        if self.deriv_dual_closed is not None:
            return self.deriv_dual_closed(q1, q2, c)
        return _mehler(self.deriv_hermite_coefficients, q1, q2, c, order)


def _mehler(coeff_fn, q1, q2, c, order):
    q1, q2, c = jnp.broadcast_arrays(q1, q2, c)
    r1, r2 = jnp.sqrt(q1), jnp.sqrt(q2)
    rho = jnp.clip(c / (r1 * r2), -1.0, 1.0)
    return mehler_kernel(coeff_fn(order, r1), coeff_fn(order, r2), rho)


# --- ReLU ---------------------------------------------------------------------------------
def _relu_hermite(k_max, r):
    vals = []
    for k in range(k_max + 1):
        if k == 0:
            vals.append(1.0 / math.sqrt(2 * math.pi))
        elif k == 1:
            vals.append(0.5)
        elif k % 2 == 1:
            vals.append(0.0)
        else:  # (-1)^{(k-2)/2} (k-3)!! / (√(2π) √k!)
            mag = math.exp(log_double_factorial(k - 3) - log_sqrt_factorial(k)) / math.sqrt(2 * math.pi)
            vals.append((-1) ** ((k - 2) // 2) * mag)
    coef = jnp.asarray(vals, dtype=r.dtype)
    return coef.reshape((-1,) + (1,) * r.ndim) * r


def _angle(q1, q2, c):
    """arccos of the correlation; the value is exact, the gradient is taken 1e-7 inside ±1 (arccos'
    is infinite at ±1, reached when two neurons align exactly, e.g. particles merging into an atom)."""
    x = jnp.clip(c / jnp.sqrt(q1 * q2), -1.0, 1.0)
    safe = jnp.arccos(jnp.clip(x, -1.0 + 1e-7, 1.0 - 1e-7))
    return safe + jax.lax.stop_gradient(jnp.arccos(x) - safe)


def _relu_dual(q1, q2, c):
    th = _angle(q1, q2, c)
    return jnp.sqrt(q1 * q2) / (2 * jnp.pi) * (jnp.sin(th) + (jnp.pi - th) * jnp.cos(th))


def _relu_deriv_dual(q1, q2, c):
    return (jnp.pi - _angle(q1, q2, c)) / (2 * jnp.pi)


# --- erf ----------------------------------------------------------------------------------
def _erf_hermite(k_max, r):
    s2 = 1.0 / (1.0 + 2.0 * r**2)
    vals = []
    for k in range(k_max + 1):
        if k % 2 == 0:
            vals.append(jnp.zeros_like(r))
        else:
            ratio = math.exp(log_double_factorial(k - 2) - log_sqrt_factorial(k))  # (k-2)!!/√k!
            vals.append((2 * r / math.sqrt(math.pi)) * jnp.sqrt(s2) * ratio * (s2 - 1.0) ** ((k - 1) // 2))
    return jnp.stack(vals)


def _erf_dual(q1, q2, c):
    return (2 / jnp.pi) * jnp.arcsin(jnp.clip(2 * c / jnp.sqrt((1 + 2 * q1) * (1 + 2 * q2)), -1.0, 1.0))


def _erf_deriv_dual(q1, q2, c):
    return (4 / jnp.pi) / jnp.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c**2)


# --- smooth activations without closed forms -------------------------------------------
def _gelu(x):
    return x * 0.5 * (1.0 + jax.scipy.special.erf(x / math.sqrt(2.0)))


def _gelu_deriv(x):
    return 0.5 * (1.0 + jax.scipy.special.erf(x / math.sqrt(2.0))) + x * jnp.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


def _silu_deriv(x):
    s = jax.nn.sigmoid(x)
    return s * (1 + x * (1 - s))


def polynomial(coefficients: Sequence[float], name: str | None = None) -> Activation:
    """φ(x) = Σ_j coefficients[j] x^j. Quadrature with 200 nodes is exact for its Hermite coefficients."""
    coefs = tuple(float(c) for c in coefficients)
    if not coefs:
        raise ConfigError("activation", "a polynomial needs at least one coefficient", "e.g. polynomial:0,0,1")
    deg = len(coefs) - 1

    def fn(x):
        out = jnp.zeros_like(x) + coefs[-1]
        for cj in reversed(coefs[:-1]):
            out = out * x + cj
        return out

    def deriv(x):
        out = jnp.zeros_like(x)
        for j in range(deg, 0, -1):
            out = out * x + j * coefs[j]
        return out

    odd = all(c == 0 for c in coefs[0::2])
    even = all(c == 0 for c in coefs[1::2])
    parity = "odd" if odd else ("even" if even else None)
    nonzero = [j for j, c in enumerate(coefs) if c != 0]
    return Activation(name or "polynomial:" + ",".join(f"{c:g}" for c in coefs), fn, deriv, parity,
                      polynomial_degree=deg, homogeneity=float(nonzero[0]) if len(nonzero) == 1 else None)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", jax.nn.relu, lambda x: (x > 0).astype(x.dtype), None,
                       _relu_hermite, _relu_dual, _relu_deriv_dual, second_moment_closed=lambda q: q / 2,
                       step_derivative=True, smooth=False, homogeneity=1.0),
    "erf": Activation("erf", jax.scipy.special.erf, lambda x: 2 / math.sqrt(math.pi) * jnp.exp(-x**2), "odd",
                      _erf_hermite, _erf_dual, _erf_deriv_dual,
                      second_moment_closed=lambda q: (2 / jnp.pi) * jnp.arcsin(2 * q / (1 + 2 * q))),
    "tanh": Activation("tanh", jnp.tanh, lambda x: 1 - jnp.tanh(x) ** 2, "odd"),
    "gelu": Activation("gelu", _gelu, _gelu_deriv, None),
    "silu": Activation("silu", jax.nn.silu, _silu_deriv, None),
    "sigmoid": Activation("sigmoid", jax.nn.sigmoid, lambda x: jax.nn.sigmoid(x) * (1 - jax.nn.sigmoid(x)), None),
    "quadratic": polynomial((0.0, 0.0, 1.0), name="quadratic"),
}


def register_activation(act: Activation) -> Activation:
    """Make a user-defined activation available by name (config files, ``get_activation``). Declare
    what it has: ``parity``, closed forms, ``step_derivative``, ``smooth``, ``homogeneity``; the Hermite calculus falls
    back to quadrature and the Mehler series for what it lacks."""
    if not isinstance(act, Activation):
        raise TypeError("register_activation takes an Activation, e.g. Activation('softplus', jax.nn.softplus, "
                        "jax.nn.sigmoid)")
    if act.name in ACTIVATIONS and ACTIVATIONS[act.name] is not act:
        raise ConfigError("activation", f"an activation named '{act.name}' is already registered", "choose another name")
    ACTIVATIONS[act.name] = act
    return act


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name; ``"polynomial:c0,c1,..."`` builds a polynomial."""
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name.startswith("polynomial:"):
        try:
            coefs = [float(t) for t in name.split(":", 1)[1].split(",")]
        except ValueError:
            raise ConfigError("activation", f"cannot parse polynomial coefficients in '{name}'",
                              "write polynomial:c0,c1,c2 with numbers") from None
        return polynomial(coefs)
    if name not in ACTIVATIONS:
        raise ConfigError("activation", f"unknown activation '{name}'",
                          suggest(str(name), list(ACTIVATIONS) + ["polynomial:c0,c1,..."]))
    return ACTIVATIONS[name]
