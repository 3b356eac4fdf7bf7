r"""Wasserstein distances between particle clouds (POT: exact OT and sliced OT).

* :func:`w2_squared`: W₂²(μ̂, ν̂) between uniform empirical measures, exactly (``ot.emd2`` on squared
  Euclidean costs: O(n³) time, O(nm) memory). Above ``max_exact`` points per cloud it falls back to
  the sliced distance with a :class:`OTFallbackWarning` that says so.
* :func:`sliced_w2_squared`: SW₂² = E_u W₂²(u#μ̂, u#ν̂) over ``n_projections`` random directions
  (``ot.sliced_wasserstein_distance`` returns SW₂, unsquared; it is squared here).
* :func:`debiased_sliced_w2_squared`: SW₂²(μ̂_N, ν̂_ref) minus the sampling floor SW₂²(ν̂_N, ν̂_ref) of
  an N-point subsample of the reference.

Sampling floors (why these are diagnostics, not the propagation-of-chaos rate metric): between two
independent N-samples of one smooth law in D dimensions, E W₂² decays like N^{-2/D} for D > 4
(Fournier & Guillin 2015), so exact W₂² of point clouds in D = d + 1 ≥ 5 hides an O(1/N) coupling
error under its floor. Each 1-D projection has a floor ≈ 1/N (up to log log N for Gaussians), so
sliced W₂² minus its floor can resolve O(1/N) differences in distribution. Measured floors are in
docs/mean_field_langevin.md.
"""
from __future__ import annotations

import warnings

import numpy as np


class OTFallbackWarning(UserWarning):
    """Exact OT was skipped for a cloud too large; the sliced distance was returned instead."""


def _ot():
    try:
        import ot
    except ImportError as e:  # pragma: no cover - POT is a dependency
        raise ImportError("optimal transport needs POT: pip install pot") from e
    return ot


def sliced_w2_squared(X, Y, n_projections: int = 200, seed: int = 0) -> float:
    """SW₂² between the uniform empirical measures on the rows of X and Y."""
    ot = _ot()
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    return float(ot.sliced_wasserstein_distance(X, Y, n_projections=n_projections, p=2, seed=seed)) ** 2


def w2_squared(X, Y, max_exact: int = 4000, n_projections: int = 200, seed: int = 0) -> tuple[float, str]:
    """(W₂², method): exact W₂² between uniform empirical measures (``method="exact"``), or, when a
    cloud has more than ``max_exact`` points, SW₂² (``method="sliced"``) with a warning."""
    ot = _ot()
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    if max(len(X), len(Y)) > max_exact:
        warnings.warn(f"exact W2 skipped for clouds of {len(X)} and {len(Y)} points (more than max_exact = "
                      f"{max_exact}: O(n^3) time, O(nm) memory); returning sliced W2^2 with {n_projections} "
                      "projections instead", OTFallbackWarning, stacklevel=2)
        return sliced_w2_squared(X, Y, n_projections, seed), "sliced"
    a = np.full(len(X), 1.0 / len(X))
    b = np.full(len(Y), 1.0 / len(Y))
    return float(ot.emd2(a, b, ot.dist(X, Y), numItermax=10_000_000)), "exact"


def debiased_sliced_w2_squared(X, ref, n_projections: int = 200, seed: int = 0) -> dict:
    """SW₂²(X, ref) and the same minus the sampling floor SW₂²(ref_N, ref), ref_N a random N-point
    subsample (without replacement) of the reference, N = len(X): the distance an N-point sample of
    the reference law itself has from the reference cloud (≈ (1/N − 1/M) per projection). Both use
    the same projections, so most of the projection noise cancels."""
    X, ref = np.asarray(X), np.asarray(ref)
    n = len(X)
    if len(ref) <= n:
        raise ValueError(f"the reference needs more than N = {n} points for the floor, has {len(ref)}")
    sub = ref[np.random.default_rng(seed).permutation(len(ref))[:n]]
    raw = sliced_w2_squared(X, ref, n_projections, seed)
    floor = sliced_w2_squared(sub, ref, n_projections, seed)
    return {"sliced_w2_sq": raw, "floor": floor, "debiased": raw - floor}
