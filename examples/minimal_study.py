"""A complete study in the framework's shape (docs/architecture.md): the empirical feature kernel of a
random width-N layer, (1/N) Σ_i φ(w_i·x)φ(w_i·x'), converges to its closed form E[φ(u)φ(u')] at rate N^{-1/2}.

    python examples/minimal_study.py            # writes runs/feature-kernel-mc, resumable; then `mflab show` it
"""
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from mflab.analysis.fits import mean_loglog_slope
from mflab.framework.config import require
from mflab.framework.presets import register
from mflab.framework.study import Reduced, Study
from mflab.networks import TwoLayer


@dataclass
class FeatureKernelConfig:
    preset: str = "feature-kernel-mc"
    seed: int = 0
    widths: list[int] = field(default_factory=lambda: [16, 64, 256, 1024])
    seeds: int = 16
    d: int = 5
    activation: str = "relu"

    def validate(self):
        require(self.seeds >= 2, "seeds", f"must be >= 2, got {self.seeds}", "error bars need seeds, e.g. 16")


def inputs(cfg):  # shared by every unit: four fixed inputs
    return jax.random.normal(jax.random.key(cfg.seed), (4, cfg.d))


def compute(cfg, N, ctx):  # one unit: the kernel error of `seeds` random layers of width N
    net, X = TwoLayer.create(N, cfg.activation), ctx.shared
    exact = nngp_feature_kernel(net, X)
    errs = [jnp.linalg.norm(feature_kernel(net, net.init(jax.random.fold_in(jax.random.key(cfg.seed + 1), s), cfg.d), X)
                            - exact) / jnp.linalg.norm(exact) for s in range(cfg.seeds)]
    return {"error": np.asarray(errs)}


def feature_kernel(net, params, X):
    phi = net.activation.fn(X @ params.W.T)
    return phi @ phi.T / net.width


def nngp_feature_kernel(net, X):
    q = net.sigma_w**2 * jnp.sum(X**2, 1) / X.shape[1]
    return net.activation.dual(q[:, None], q[None, :], net.sigma_w**2 * X @ X.T / X.shape[1])


def reduce(cfg, results, ctx):
    fit = mean_loglog_slope(list(results), [r["error"] for r in results.values()], seed=cfg.seed)
    rows = [{"width": N, "seed": s, "relative_error": float(e)} for N, r in results.items() for s, e in enumerate(r["error"])]
    return Reduced({"points": rows}, {"preset": cfg.preset, "status": "completed", "slope": fit["slope"],
                                      "ci95": fit["ci95"], "expected_slope": -0.5})


STUDY = Study("feature-kernel-mc", "empirical vs closed-form feature kernel of a random layer, rate in N",
              FeatureKernelConfig, units=lambda cfg: sorted(set(cfg.widths)), setup=inputs, compute=compute,
              reduce=reduce, describe=lambda s: [f"slope {s['slope']:+.2f}, 95% CI {s['ci95']} (expected -0.5)"],
              unit_name="width", quick={"widths": [16, 64, 256], "seeds": 8})
register(STUDY.preset())

if __name__ == "__main__":
    from mflab.cli import main

    main(["run", "feature-kernel-mc"])
