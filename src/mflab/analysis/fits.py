"""Rate fits shared by the convergence studies: the plain log-log slope and the replica-bootstrap slope."""
from __future__ import annotations

import numpy as np


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def mean_loglog_slope(xs, samples: list, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Least-squares slope of log(mean of ``samples[j]``) against log ``xs[j]``, with a bootstrap
    interval that resamples the replicas (seeds) within each level. Returns ``x``, ``means``,
    ``stderr``, ``slope`` and ``ci95``; the slope is None when a mean is not positive, the interval
    None when fewer than half of the bootstrap draws have all means positive."""
    samples = [np.asarray(s, float) for s in samples]
    means = [float(s.mean()) for s in samples]
    stderr = [float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0 for s in samples]
    out = {"x": [float(x) for x in xs], "means": means, "stderr": stderr}
    if len(xs) < 2 or min(means) <= 0:
        return out | {"slope": None, "ci95": None}
    lx = np.log(np.asarray(xs, float))
    fit = lambda ms: float(np.polyfit(lx, np.log(ms), 1)[0])  # noqa: E731
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        ms = [s[rng.integers(0, len(s), len(s))].mean() for s in samples]
        if min(ms) > 0:
            boots.append(fit(ms))
    ci = ([float(q) for q in np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])]
          if len(boots) >= n_boot / 2 else None)
    return out | {"slope": fit(means), "ci95": ci}
