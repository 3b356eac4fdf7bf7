"""The config layer: library errors name their own argument, the config layer adds the dotted path."""
import pytest


def test_library_errors_get_their_config_section_added_once():
    """Library code names its own argument; config_section adds the dotted path, once."""
    from mflab.errors import ConfigError
    from mflab.framework.config import config_section
    from mflab.networks import TwoLayer
    from mflab.studies.bayes.sections import NetworkConfig, TaskConfig, build_network

    with pytest.raises(ConfigError) as e:
        TwoLayer.create(4, sigma_a=-1.0)
    assert e.value.field == "sigma_a"
    with pytest.raises(ConfigError) as e, config_section("network"):
        TwoLayer.create(4, sigma_a=-1.0)
    assert e.value.field == "network.sigma_a" and "fix:" in str(e.value)
    with pytest.raises(ConfigError) as e:
        build_network(NetworkConfig(width=4, sigma_w=-2.0))
    assert e.value.field == "network.sigma_w"
    with pytest.raises(ConfigError) as e:
        TaskConfig(name="parity", d=6, k=9).build()
    assert e.value.field == "task.k"
    with pytest.raises(ConfigError) as e:
        TaskConfig(name="single-index", d=6, k=2, degree=-1).build()
    assert e.value.field == "task.degree"


def test_declared_bounds_are_checked_with_their_dotted_path():
    """Numeric constraints sit next to the fields (bounded); from_dict checks them, items of lists included."""
    from mflab.errors import ConfigError
    from mflab.framework.config import from_dict
    from mflab.studies.bayes.phase import PhaseConfig

    cases = [({"mf": {"particles": 0}}, "mf.particles", ">= 1"), ({"mf": {"ard_damping": 1.5}}, "mf.ard_damping", "<= 1"),
             ({"sgld": {"kappa": [1e-3, -1.0]}}, "sgld.kappa[1]", ">= 0"), ({"sgld": {"burn_in_fraction": 1.0}},
             "sgld.burn_in_fraction", "< 1"), ({"task": {"n_train": [10, 0]}}, "task.n_train[1]", ">= 1"),
             ({"mf": {"beta0": -1.0}}, "mf.beta0", "> 0")]
    for data, field, bound in cases:
        with pytest.raises(ConfigError) as e:
            from_dict(PhaseConfig, data)
        assert e.value.field == field and bound in e.value.problem, (field, str(e.value))
    assert from_dict(PhaseConfig, {"mf": {"beta0": None}}).mf.beta0 is None  # None passes an optional bound


@pytest.mark.parametrize("study,field", [("mflab.studies.depth.limit:DepthLimitConfig", "n_boot"),
                                         ("mflab.studies.mfld.chaos_rate:ChaosRateConfig", "replicas"),
                                         ("mflab.studies.depth.transfer:DepthTransferConfig", "teacher_d")])
def test_every_family_declares_its_bounds(study, field):
    import importlib

    from mflab.errors import ConfigError
    from mflab.framework.config import from_dict

    module, name = study.split(":")
    with pytest.raises(ConfigError) as e:
        from_dict(getattr(importlib.import_module(module), name), {field: 0})
    assert e.value.field == field and ">= 1" in e.value.problem
