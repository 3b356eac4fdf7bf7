"""The phase studies' named priors: ``prior = "shared"`` (one prior for network and theory) and ``"authors"``
(the two priors of paper B's single-index scripts, §8), and the bad inputs around them."""
import math

import pytest

from mflab.cli import build_config
from mflab.conventions import TwoLayerPrior, authors_single_index_priors
from mflab.errors import ConfigError
from mflab.framework.config import from_dict, to_dict


def test_shared_prior_gives_the_theory_the_networks_prior_biases_included():
    _, cfg = build_config("hermite-index", True, ["network.bias=true", "network.sigma_b=0.3", "network.output_bias=true",
                                                  "network.sigma_c=2.0", "network.sigma_w=0.8"])
    assert cfg.mean_field_prior() == TwoLayerPrior(1.0, 0.8, 0.3, 2.0, None)


def test_authors_prior_sets_the_sgld_prior_and_gives_the_theory_its_own():
    _, cfg = build_config("hermite-index", True, ['prior="authors"', "task.d=18"])
    n = cfg.network
    assert (n.bias, n.output_bias, n.sigma_c) == (True, True, 1.0)
    assert math.isclose(n.sigma_w**2, 0.5) and math.isclose(n.sigma_b**2, 0.5 / 18)  # g_w = 0.5 is a variance
    mfp = cfg.mean_field_prior()
    assert mfp == authors_single_index_priors(18, cfg.mf.alpha0)[1]
    assert (mfp.sigma_w, mfp.sigma_b, mfp.sigma_c) == (0.5, 1.0, None)  # σ_w = 0.5 is a standard deviation
    assert math.isclose(cfg.mf.alpha0 / mfp.ard_beta0, 18)  # β0 = α0/d: hyperprior mean d, not d/σ_w² = 72
    # the resolved config (as written to config.toml) validates again unchanged: a rerun resumes
    again = from_dict(type(cfg), to_dict(cfg))
    assert to_dict(again) == to_dict(cfg)


@pytest.mark.parametrize("target,sets,field", [
    ("hermite-index", ['prior="author"'], "prior"),
    ("parity-phase", ['prior="authors"'], "prior"),
    ("hermite-index", ['prior="authors"', "network.sigma_w=2.0"], "network.sigma_w"),
    ("hermite-index", ['prior="authors"', "mf.beta0=0.1"], "mf.beta0"),
    ("hermite-index", ["task.degree=0"], "task.degree"),
    ("hermite-index", ["task.k=9"], "task.k"),
])
def test_bad_prior_and_task_settings_name_the_field(target, sets, field):
    with pytest.raises(ConfigError) as e:
        build_config(target, True, sets)
    assert e.value.field == field, str(e.value)
