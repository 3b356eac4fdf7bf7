r"""Can a two-layer network f = Σ_i a_i φ(w_i·x) (+ hidden biases) have any overlap with a task's target?

Hermite content of the activation: c_k(r) = E[φ(r z) h_k(z)] (:meth:`Activation.hermite_coefficients`).
Without biases the network's degree-k content is Σ_i a_i c_k(|w_i|) (ŵ_i·v)^k, so

* a Gaussian Hermite target (single-index, multi-index, a Hermite dictionary) with degrees K is out of
  reach when c_k ≡ 0 for every k ∈ K, k ≥ 1 (erf, an odd function, on He₂; a quadratic on He₄);
* a k-sparse parity on the hypercube is out of reach when the activation has no Hermite degree j ≥ k with
  j ≡ k (mod 2): on {±1}^d, x_i² = 1, so the odd (even) part of φ(w·x) reduces to multilinear terms of
  degree ≤ the largest odd (even) j present, all orthogonal to χ_S (bias-free ReLU, GELU or SiLU on an odd
  parity: their odd part is linear; erf, tanh or a sigmoid on an even parity: their even part is constant).

With hidden biases only a polynomial activation of degree p is limited (to degrees ≤ p). "Present" means
|c_j(r)| > 10⁻⁶ max |c(r)| at some r ∈ {½, 1, 2}, for j ≤ 20; beyond degree 20 the parity structure seen
up to 20 is extrapolated (an activation with no odd degree in 3…20 has a linear odd part).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..networks.activations import Activation, get_activation

K_MAX = 20
_REL = 1e-6


def hermite_degrees(activation: Activation | str, bias: bool = False) -> set[int]:
    """Degrees j ≤ 20 the network can reach (module docstring)."""
    act = get_activation(activation) if isinstance(activation, str) else activation
    top = K_MAX if act.polynomial_degree is None else min(K_MAX, act.polynomial_degree)
    if bias:
        return set(range(top + 1))
    c = np.array([np.asarray(act.hermite_coefficients(K_MAX, r)) for r in (0.5, 1.0, 2.0)])
    present = np.abs(c).max(axis=0) > _REL * np.abs(c).max()
    return {j for j in range(top + 1) if present[j]}


def _extrapolates(degrees: set[int], k: int, polynomial: bool) -> bool:
    """Beyond degree 20: a non-polynomial activation keeps the parity structure it shows up to 20."""
    low = 3 if k % 2 else 2
    return not polynomial and any(j % 2 == k % 2 and j >= low for j in degrees)


def _reaches_parity(degrees: set[int], k: int, polynomial: bool) -> bool:
    if any(j % 2 == k % 2 and j >= k for j in degrees):
        return True
    return k > K_MAX and _extrapolates(degrees, k, polynomial)


def _reaches_degree(degrees: set[int], k: int, polynomial: bool) -> bool:
    return k in degrees if k <= K_MAX else _extrapolates(degrees, k, polynomial)


def check_representable(task, activation: Activation | str, bias: bool, field: str = "task"):
    """Refuse, with one line naming ``field``, a task whose target a (bias-free) network with this
    activation cannot overlap at all (module docstring). Tasks without known Hermite content pass."""
    act = get_activation(activation) if isinstance(activation, str) else activation
    D = hermite_degrees(act, bias)
    poly = act.polynomial_degree is not None
    name = getattr(task, "name", type(task).__name__)
    how = "set network.bias = true" if not poly else "use a non-polynomial activation"
    if name == "parity":
        k = int(task.k)
        if k >= 1 and not _reaches_parity(D, k, poly):
            kind = "odd" if k % 2 else "even"
            raise ConfigError(f"{field}.k", f"a {'biased' if bias else 'bias-free'} {act.name} network cannot "
                              f"represent an {kind} parity (k = {k}): {act.name} has no Hermite degree >= {k} of that "
                              f"parity (its degrees up to {K_MAX}: {sorted(D)})",
                              f"use an {'even' if k % 2 else 'odd'} k, {how}, or an activation with {kind} "
                              f"degrees such as {'erf' if k % 2 else 'relu'}")
    elif hasattr(task, "degree_energies"):
        E = np.asarray(task.degree_energies())
        present = [k for k in range(1, len(E)) if E[k] > 1e-12 * max(E.sum(), 1e-300)]
        if present and not any(_reaches_degree(D, k, poly) for k in present):
            raise ConfigError(f"{field}.degree", f"a {'biased' if bias else 'bias-free'} {act.name} network cannot "
                              f"represent a target of Hermite degree {present}: {act.name}'s degrees up to {K_MAX} are "
                              f"{sorted(D)}", f"choose a degree in that list, {how}, or another activation")
