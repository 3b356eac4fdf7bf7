r"""Identifiability of two-layer networks as particle measures, modulo the activation's symmetries
(notes A §3; the definitions marked [PROP] there are the ones fixed here).

A measure μ = Σ_i p_i δ_{(a_i, w_i)} computes f_μ(x) = Σ_i p_i a_i σ(w_i·x), which depends on μ only
through the signed measure ν = Σ_i c_i δ_{w_i}, c_i = p_i a_i; ν ↦ f is linear. Hence

    ‖f_μ − f_μ'‖²_{L²(ρ)} = (c, −c')ᵀ K (c, −c'),   K = [K(w, w')] over the union of both atom sets,

for ρ = N(0, I_d) (closed-form dual kernel, or the Mehler series) or an empirical sample ρ (direct
evaluation): :func:`l2_distance`.

Symmetry structure of σ (:func:`symmetry_structure`). Split σ = σ_e + σ_o into its even and odd
parts; each part is, numerically on a grid,

* ``zero``: that part of ν is invisible (odd σ: the even part of ν; the sign flip (a, w) → (−a, −w));
* a polynomial of degree D with coefficients s_k: that part of ν is seen only through the finitely
  many moment tensors T_k = s_k Σ_i c_i w_i^{⊗k} (the finite-rank realization symmetry; ReLU, GELU,
  SiLU: odd part z/2, T_1 only; sigmoid: even part ½, T_0 only; z²: everything through T_2);
* ``full`` (not a polynomial): the part identifies its atoms up to the part's own sign symmetry
  (w ↦ −w for an even part, (c, w) ↦ (−c, −w) for an odd part).

A σ positively homogeneous of degree p (σ(tz) = t^p σ(z), t > 0; ReLU p = 1, z² p = 2) adds the
rescaling (c, w) → (c t^p, w/t): canonical atoms have |w| = 1.

:func:`canonicalize` returns the canonical form: the *identified atoms* of the full part(s) (orbit
representatives, duplicates merged within a tolerance by a k-d tree, inactive atoms dropped) and the
*moment summary* {k: T_k} of the polynomial parts. :func:`same_function` decides f_μ = f_μ' by the
L² distance and returns a certificate that says whether the canonical forms agree, or whether the
measures differ only inside the kernel of the finite-rank moment map.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from ..theory.gaussian import gaussian_gram
from ..networks.activations import get_activation

POLY_MAX_DEGREE = 4


def float64():
    """A context in which JAX computes in float64 (distances of zero must come out as ≤ 1e-12)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # jax < 0.8

    return enable_x64()


def signed_atoms(theta, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(c, W): c_i = p_i a_i and w_i from particles θ_i = (a_i, w_i) (rows) with weights p_i (default 1/N)."""
    theta = np.asarray(theta, np.float64)
    p = np.full(len(theta), 1.0 / len(theta)) if weights is None else np.asarray(weights, np.float64)
    return p * theta[:, 0], theta[:, 1:]


def l2_distance(theta, theta2, activation, rho="gaussian", weights=None, weights2=None) -> float:
    """‖f_μ − f_μ'‖²_{L²(ρ)}: ρ = ``"gaussian"`` (N(0, I_d), kernel form) or an (n, d) sample (direct)."""
    c1, W1 = signed_atoms(theta, weights)
    c2, W2 = signed_atoms(theta2, weights2)
    c = np.concatenate([c1, -c2])
    W = np.concatenate([W1, W2])
    act = get_activation(activation)
    if isinstance(rho, str):
        if rho != "gaussian":
            raise ValueError(f"rho must be 'gaussian' or a sample array, got {rho!r}")
        with float64():
            K = np.asarray(gaussian_gram(act, jnp.asarray(W)))
        return float(max(c @ K @ c, 0.0))
    with float64():
        F = np.asarray(act.fn(jnp.asarray(np.asarray(rho, np.float64) @ W.T)))
    return float(np.mean((F @ c) ** 2))


# --- symmetry structure ------------------------------------------------------------------------
@dataclass(frozen=True)
class PartStructure:
    """The even or odd part of an activation: zero, a polynomial (its monomial coefficients; the network sees it
    only through moments of w) or full (identifiable up to the part's sign symmetry)."""

    kind: str  # "zero", "poly" or "full"
    coefficients: tuple = ()  # monomial coefficients s_k of a polynomial part (k = 0..D)

    @property
    def degrees(self) -> tuple:
        return tuple(k for k, s in enumerate(self.coefficients) if s != 0)


@dataclass(frozen=True)
class SymmetryStructure:
    """What a network with activation σ can identify: the structure of σ's even and odd parts, its positive
    homogeneity degree p (σ(tz) = t^p σ(z), t > 0) when it has one, and notes on the symmetries that remain."""

    activation: str
    even: PartStructure
    odd: PartStructure
    homogeneity: float | None  # p if σ(tz) = t^p σ(z) for t > 0
    notes: tuple = field(default=())


def _classify(values, z, parity: int, tol: float) -> PartStructure:
    scale = max(float(np.max(np.abs(values))), 1e-300)
    if np.max(np.abs(values)) < tol:
        return PartStructure("zero")
    for D in range(POLY_MAX_DEGREE + 1):
        ks = [k for k in range(D + 1) if k % 2 == parity]
        if not ks:
            continue
        A = np.stack([z**k for k in ks], axis=1)
        coef, *_ = np.linalg.lstsq(A, values, rcond=None)
        if np.max(np.abs(A @ coef - values)) < tol * scale:
            s = np.zeros(D + 1)
            s[ks] = np.where(np.abs(coef) > tol, coef, 0.0)
            return PartStructure("poly", tuple(float(v) for v in s))
    return PartStructure("full")


def symmetry_structure(activation, tol: float = 1e-9) -> SymmetryStructure:
    """Classify the even and odd parts of σ (zero / polynomial / full) and its homogeneity, on a
    float64 grid z ∈ [−6, 6] (module docstring)."""
    act = get_activation(activation)
    z = np.linspace(-6, 6, 241)
    with float64():
        s_pos = np.asarray(act.fn(jnp.asarray(z)), np.float64)
        s_neg = np.asarray(act.fn(jnp.asarray(-z)), np.float64)
        s2 = np.asarray(act.fn(jnp.asarray(2 * z)), np.float64)
    even = _classify((s_pos + s_neg) / 2, z, 0, tol)
    odd = _classify((s_pos - s_neg) / 2, z, 1, tol)
    homog = None
    pos = (z > 0.5) & (np.abs(s_pos) > 1e-6)
    if pos.any():
        ratio = s2[pos] / s_pos[pos]
        neg = (z < -0.5) & (np.abs(s_pos) > 1e-6)
        ok_neg = not neg.any() or np.allclose(s2[neg] / s_pos[neg], ratio[0], rtol=1e-8)
        zero_neg = np.all(np.abs(s_pos[z < 0]) < 1e-12) and np.all(np.abs(s2[z < 0]) < 1e-12)
        if np.allclose(ratio, ratio[0], rtol=1e-8) and ratio[0] > 0 and (ok_neg or zero_neg):
            homog = float(np.log2(ratio[0]))
    notes = []
    for name, part in (("even", even), ("odd", odd)):
        if part.kind == "zero":
            notes.append(f"the {name} part of σ is 0: the {name} part of ν is invisible")
        elif part.kind == "poly":
            notes.append(f"the {name} part of σ is a polynomial (degrees {list(part.degrees)}): that part of ν is "
                         f"seen only through the moment tensors T_k = s_k Σ c_i w_i^⊗k, k in {list(part.degrees)}")
    if homog is not None:
        notes.append(f"σ is positively {homog:g}-homogeneous: (a, w) → (a t^{homog:g}, w/t) is a symmetry")
    return SymmetryStructure(act.name, even, odd, homog, tuple(notes))


# --- canonical forms ---------------------------------------------------------------------------
@dataclass
class CanonicalForm:
    """Identified atoms (amplitudes, unit-or-raw directions) and the moment summary {k: T_k}."""

    amplitudes: np.ndarray
    directions: np.ndarray
    moments: dict
    structure: SymmetryStructure

    @property
    def n_atoms(self) -> int:
        return len(self.amplitudes)


def _sign_canonical(W):
    """Flip each row so that its first entry of magnitude > 1e-12 is positive; returns (W', signs)."""
    idx = np.argmax(np.abs(W) > 1e-12, axis=1)
    s = np.sign(W[np.arange(len(W)), idx])
    s = np.where(s == 0, 1.0, s)
    return W * s[:, None], s


def _merge(amp, W, tol):
    """Sum the amplitudes of atoms whose directions agree within ``tol`` (k-d tree clusters)."""
    if len(W) == 0:
        return amp, W
    pairs = cKDTree(W).query_pairs(tol, output_type="ndarray")
    parent = np.arange(len(W))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[find(i)] = find(j)
    roots = np.array([find(i) for i in range(len(W))])
    uniq = np.unique(roots)
    return np.array([amp[roots == r].sum() for r in uniq]), np.array([W[r] for r in uniq])


def canonical_particles(theta, activation, weights=None, tol: float = 1e-8):
    """Per-particle orbit representatives before merging: (amplitudes, directions, radii, active mask,
    structure). Amplitude c_i = p_i a_i (times |w_i|^p for p-homogeneous σ, whose directions are then
    unit vectors); with exactly one full part, the sign of each direction is fixed (first entry > 0),
    flipping the amplitude too when that part is odd."""
    st = symmetry_structure(activation)
    c, W = signed_atoms(theta, weights)
    norms = np.linalg.norm(W, axis=1)
    active = norms > tol
    amp, D = c.copy(), W.copy()
    if st.homogeneity is not None:
        amp = np.where(active, amp * norms**st.homogeneity, amp)
        D = np.where(active[:, None], D / np.where(active, norms, 1.0)[:, None], D)
    full = [p for p in (st.even, st.odd) if p.kind == "full"]
    if len(full) == 1:
        D, sgn = _sign_canonical(D)
        if st.odd.kind == "full":
            amp = amp * sgn
    return amp, D, norms, active, st


def moment_summary(theta, activation, weights=None) -> dict:
    """{k: T_k = s_k Σ_i c_i w_i^{⊗k}} over the polynomial parts of σ."""
    st = symmetry_structure(activation)
    c, W = signed_atoms(theta, weights)
    moments = {}
    for part in (st.even, st.odd):
        if part.kind == "poly":
            for k in part.degrees:
                T = np.einsum("i,i...->...", c, _outer_power(W, k)) * part.coefficients[k]
                moments[k] = moments.get(k, 0) + T
    return moments


def canonicalize(theta, activation, weights=None, tol: float = 1e-8) -> CanonicalForm:
    """The canonical form of μ modulo the symmetries of σ (module docstring)."""
    amp, D, _, active, st = canonical_particles(theta, activation, weights, tol)
    moments = moment_summary(theta, activation, weights)
    if st.even.kind != "full" and st.odd.kind != "full":
        amp, D = np.zeros(0), np.zeros((0, D.shape[1]))
    else:
        amp, D = _merge(amp[active], D[active], tol * 10)
    keep = np.abs(amp) > tol
    return CanonicalForm(amp[keep], D[keep], moments, st)


def _outer_power(W, k):
    out = np.ones((len(W),))
    for _ in range(k):
        out = out[..., None] * W.reshape((len(W),) + (1,) * (out.ndim - 1) + (W.shape[1],))
    return out


def canonical_distance(A: CanonicalForm, B: CanonicalForm) -> float:
    """Symmetry-quotiented distance of canonical forms: Hungarian matching of atoms (amplitude and
    direction; unmatched atoms pay their squared amplitude) plus the moment-summary differences."""
    na, nb = A.n_atoms, B.n_atoms
    n = max(na, nb)
    cost = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i < na and j < nb:
                cost[i, j] = (A.amplitudes[i] - B.amplitudes[j]) ** 2 + np.sum((A.directions[i] - B.directions[j]) ** 2)
            elif i < na:
                cost[i, j] = A.amplitudes[i] ** 2
            elif j < nb:
                cost[i, j] = B.amplitudes[j] ** 2
    r, cidx = linear_sum_assignment(cost) if n else (np.zeros(0, int), np.zeros(0, int))
    atoms = float(cost[r, cidx].sum())
    keys = set(A.moments) | set(B.moments)
    mom = sum(float(np.sum((np.asarray(A.moments.get(k, 0.0)) - np.asarray(B.moments.get(k, 0.0))) ** 2))
              for k in keys)
    return float(np.sqrt(atoms + mom))


def same_function(theta, theta2, activation, tol: float = 1e-10, weights=None, weights2=None) -> tuple[bool, dict]:
    """(f_μ = f_μ', certificate). The decision is ‖f_μ − f_μ'‖² ≤ tol (Gaussian ρ). The certificate
    gives the distance, the canonical-form distance, the atom counts and an explanation: equal
    canonical forms, equal functions whose canonical forms differ (a finite-rank kernel element,
    certified by equal moment summaries), or different functions."""
    d2 = l2_distance(theta, theta2, activation, weights=weights, weights2=weights2)
    A = canonicalize(theta, activation, weights)
    B = canonicalize(theta2, activation, weights2)
    cd = canonical_distance(A, B)
    same = d2 <= tol
    atoms_gap = canonical_distance(CanonicalForm(A.amplitudes, A.directions, {}, A.structure),
                                   CanonicalForm(B.amplitudes, B.directions, {}, B.structure))
    moments_gap = float(np.sqrt(max(cd**2 - atoms_gap**2, 0.0)))
    if same and cd <= 1e-6:
        why = "same function; canonical forms agree (the measures are equal modulo the symmetries of σ)"
    elif same:
        why = ("same function although the canonical forms differ: the difference lies in the kernel of the "
               "realization map" + (" (moment summaries agree)" if moments_gap <= 1e-6 else ""))
    else:
        why = "different functions"
    return same, {"l2_distance_sq": d2, "canonical_distance": cd, "atoms_distance": atoms_gap,
                  "moments_distance": moments_gap, "atoms": [A.n_atoms, B.n_atoms], "explanation": why,
                  "symmetries": list(A.structure.notes)}
