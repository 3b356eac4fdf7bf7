"""The shared posterior design: KRR on the same data, capped in P."""
import numpy as np

from mflab.cli import build_config
from mflab.studies.bayes.design import krr_grid, prepare
from mflab.studies.bayes.sections import posterior_memory_bytes


def test_krr_cap_leaves_the_points_above_it_out_and_the_rest_unchanged():
    sets = ["task.d=5", "task.n_train=[20,40,80]", "task.n_test=64", "sgld.kappa=[0.1]", "main_kappa=0.1", "network.width=8",
            "network.bias=true", "task.normalized=true"]
    _, cfg = build_config("hermite-index", True, sets)
    g = prepare(cfg.task, cfg.network, cfg.sgld, cfg.seed)
    full, capped = krr_grid(g), krr_grid(g, max_n_train=40)
    above = g.Ps > 40
    assert np.isnan(capped["overlap"][above]).all() and np.isfinite(full["overlap"]).all()
    for k in ("overlap", "test_mse_mean", "test_mse_gibbs"):  # the P-point posterior is exact whatever the cap
        np.testing.assert_allclose(capped[k][~above], full[k][~above], rtol=2e-4, atol=1e-6)
    assert (posterior_memory_bytes(cfg.task, cfg.network, cfg.sgld, True, krr_max_n_train=40)
            < posterior_memory_bytes(cfg.task, cfg.network, cfg.sgld, True))
