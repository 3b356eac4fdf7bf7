r"""Locating feature-learning transitions from order-parameter curves.

The transition sample size P_c is where the target overlap m first crosses ``threshold``
(default ½) going up in P, by linear interpolation in log P between grid points. The upper
critical noise κ_c(P) is the largest κ at which m is still ≥ threshold (interpolated in log κ
towards the first larger κ where it is not). Grid points outside the range give NaN (no
transition seen) or the grid edge. Uncertainty comes from doing this per replica (seed).
"""
from __future__ import annotations

import numpy as np


def first_crossing(x, m, threshold: float = 0.5) -> float:
    """The first x at which m reaches ``threshold`` from below (log-linear interpolation).
    ``x[0]`` if m starts above it; NaN if it never does."""
    x, m = np.asarray(x, float), np.asarray(m, float)
    order = np.argsort(x)
    x, m = x[order], m[order]
    if not np.any(m >= threshold):
        return float("nan")
    j = int(np.argmax(m >= threshold))
    if j == 0:
        return float(x[0])
    lx0, lx1 = np.log(x[j - 1]), np.log(x[j])
    t = (threshold - m[j - 1]) / (m[j] - m[j - 1])
    return float(np.exp(lx0 + t * (lx1 - lx0)))


def last_above(x, m, threshold: float = 0.5) -> float:
    """The largest x with m ≥ threshold, interpolated towards the next x where m < threshold."""
    x, m = np.asarray(x, float), np.asarray(m, float)
    order = np.argsort(x)
    x, m = x[order], m[order]
    above = np.flatnonzero(m >= threshold)
    if above.size == 0:
        return float("nan")
    j = int(above[-1])
    if j == len(x) - 1:
        return float(x[j])
    t = (m[j] - threshold) / (m[j] - m[j + 1])
    return float(np.exp(np.log(x[j]) + t * (np.log(x[j + 1]) - np.log(x[j]))))


def critical_values(table: list[dict], method: str, along: str, fixed: str, threshold: float = 0.5) -> list[dict]:
    """Per value of ``fixed`` (e.g. kappa), the crossing along ``along`` (e.g. n_train) for each
    replica, with mean and std. Rows need keys method, replica, overlap, along, fixed."""
    rows = [r for r in table if r["method"] == method]
    out = []
    for v in sorted(set(r[fixed] for r in rows)):
        per = []
        for rep in sorted(set(r["replica"] for r in rows)):
            sel = [r for r in rows if r[fixed] == v and r["replica"] == rep]
            xs, ms = [r[along] for r in sel], [r["overlap"] for r in sel]
            fn = first_crossing if along == "n_train" else last_above
            per.append(fn(xs, ms, threshold))
        per = np.asarray(per)
        ok = per[np.isfinite(per)]
        out.append({"method": method, fixed: v, "critical": float(np.exp(np.mean(np.log(ok)))) if ok.size else float("nan"),
                    "log_std": float(np.std(np.log(ok))) if ok.size > 1 else float("nan"),
                    "replicas_with_transition": int(ok.size), "replicas": int(per.size), "per_replica": per.tolist()})
    return out
