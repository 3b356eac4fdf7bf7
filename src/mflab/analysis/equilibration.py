r"""When did a Monte-Carlo trace reach its stationary value?

Used to compare samplers at equal accuracy: a chain that ran S steps but settled after t_eq of
them cost t_eq steps' worth of compute to reach its answer.

Definition (per trace v_j logged at steps s_j): the stationary value v̄ is the mean over the last
``window`` fraction of the log, its spread σ the standard deviation there. The equilibration step
is the first s_j from which every later v_i stays within ``max(tol, 3σ)`` of v̄:

    t_eq = min{ s_j : |v_i − v̄| ≤ max(tol, 3σ)  ∀ i ≥ j }.

This is a heuristic (it cannot see a later drift the run never reached), stated as such in reports.

Between samplers, "settled" is not enough: a slow chain settles on a value it has not yet left. The
*arrival step* at a reference value m_ref (the equilibrium that an independent, longer or faster
sampler agrees on) is the first s_j from which every later v_i stays within max(tol, 3σ) of m_ref (σ the
trace's own spread over the last ``window``); ∞ if the trace ends outside that band:

    t_arr = min{ s_j : |v_i − m_ref| ≤ max(tol, 3σ)  ∀ i ≥ j }.
"""
from __future__ import annotations

import numpy as np


def equilibration_step(steps, values, tol: float = 0.05, window: float = 0.2) -> float:
    """t_eq of one trace (see the module docstring); NaN if the trace has non-finite values."""
    s, v = np.asarray(steps, float), np.asarray(values, float)
    if s.shape != v.shape or s.ndim != 1 or len(s) < 2:
        raise ValueError(f"need two 1-D arrays of equal length >= 2, got {s.shape} and {v.shape}")
    if not 0 < window <= 1:
        raise ValueError(f"window must be in (0, 1], got {window}")
    if not np.all(np.isfinite(v)):
        return float("nan")
    tail = v[s >= s[-1] - window * (s[-1] - s[0])]
    band = max(tol, 3 * float(np.std(tail)))
    outside = np.flatnonzero(np.abs(v - tail.mean()) > band)
    return float(s[0] if len(outside) == 0 else s[min(outside[-1] + 1, len(s) - 1)])


def equilibration_steps(steps, values, tol: float = 0.05, window: float = 0.2) -> np.ndarray:
    """:func:`equilibration_step` for each row of ``values`` (chains × log points)."""
    return np.array([equilibration_step(steps, row, tol, window) for row in np.atleast_2d(values)])


def arrival_step(steps, values, target: float, tol: float = 0.05, window: float = 0.2) -> float:
    """t_arr of one trace at the reference value ``target`` (module docstring); inf if it never stays
    within the band, NaN if the trace has non-finite values."""
    s, v = np.asarray(steps, float), np.asarray(values, float)
    if s.shape != v.shape or s.ndim != 1 or len(s) < 2:
        raise ValueError(f"need two 1-D arrays of equal length >= 2, got {s.shape} and {v.shape}")
    if not np.all(np.isfinite(v)) or not np.isfinite(target):
        return float("nan")
    tail = v[s >= s[-1] - window * (s[-1] - s[0])]
    band = max(tol, 3 * float(np.std(tail)))
    outside = np.flatnonzero(np.abs(v - target) > band)
    if len(outside) == 0:
        return float(s[0])
    return float("inf") if outside[-1] == len(s) - 1 else float(s[outside[-1] + 1])
