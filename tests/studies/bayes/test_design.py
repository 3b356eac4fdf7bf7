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


def _simulate(sets, tmp_path, name):
    from mflab.framework.rundir import RunDir
    from mflab.studies.bayes.design import simulate

    _, cfg = build_config("sgld-parity-published", True, sets)
    g = prepare(cfg.task, cfg.network, cfg.sgld, cfg.seed)
    (tmp_path / name).mkdir()
    return g, cfg, simulate(g, cfg.sgld, RunDir(tmp_path / name), progress=False, log=lambda m: None)


def test_chains_grouped_by_n_train_are_the_padded_chains(tmp_path):
    """Each P's chains on their own P points (the default) against one batch padded to the largest P: the
    same keys, starts and data, so the same chains up to float rounding; with the published stopping rule
    the P groups end at different steps (a stopped group stands still) and every chain's stopping step,
    final sample and trace agree too."""
    sets = ["task.d=6", "task.k=2", "task.n_train=[10,40,80]", "task.n_test=64", "network.width=8",
            "sgld.kappa=[0.05]", "sgld.replicas=2", "sgld.lr=0.05", "sgld.lr_final=0.05", "sgld.steps=3000",
            "sgld.log_every=100", "sgld.chunk_steps=500", "sgld.stop.extra_steps=200", "sgld.stop.below=0.3"]
    g, cfg, grouped = _simulate(sets, tmp_path, "grouped")
    _, _, padded = _simulate(sets + ["sgld.group_by_n_train=false"], tmp_path, "padded")
    assert sorted(p.name for p in (tmp_path / "grouped").glob("*.npz")) == [f"checkpoint.P{P}.npz" for P in (10, 40, 80)]
    assert [p.name for p in (tmp_path / "padded").glob("*.npz")] == ["checkpoint.npz"]
    np.testing.assert_array_equal(grouped.final["stopped_at"], padded.final["stopped_at"])
    assert len(set(grouped.final["stopped_at"].tolist())) > 1  # the chains stop at different steps
    for k in ("overlap", "test_mse_gibbs"):
        np.testing.assert_allclose(grouped.final[k], padded.final[k], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grouped.trace.values["overlap"], padded.trace.values["overlap"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grouped.params.W, padded.params.W, rtol=1e-4, atol=1e-6)


def test_training_sets_are_prefixes_whatever_the_runs_largest_p():
    """Runs with the same seed use nested training sets per replica whatever their largest P (docs/samplers.md):
    the first P points of a draw of P_max points do not depend on P_max, for the parity and the Gaussian tasks.
    The validation records compare results across run directories on this basis."""
    for preset, sets in (("sgld-parity", ["task.d=9"]), ("hermite-index", ["task.d=6", "main_kappa=0.005"])):
        designs = [prepare(cfg.task, cfg.network, cfg.sgld, cfg.seed)
                   for cfg in (build_config(preset, True, sets + ["sgld.replicas=2", "sgld.kappa=[0.005]",
                                                                  f"task.n_train={ps}"])[1]
                               for ps in ("[30]", "[10,30,70]"))]
        for r in range(2):
            (Xa, ya), (Xb, yb) = designs[0].train[r], designs[1].train[r]
            np.testing.assert_array_equal(np.asarray(Xa), np.asarray(Xb)[:30])
            np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb)[:30])
        assert not np.array_equal(np.asarray(designs[1].train[0][0]), np.asarray(designs[1].train[1][0]))


def test_a_checkpoint_keeps_the_posterior_sums_only_once_something_is_summed(tmp_path):
    """Before burn-in ends (and always for the final-weights sample) the sum of f on the test inputs is zeros of
    C × n_test, 6 MB at the published size: the checkpoint leaves it out, and resumes to the same trace either way."""
    from types import SimpleNamespace

    import jax.numpy as jnp

    from mflab.dynamics.runner import Trace
    from mflab.framework.rundir import RunDir
    from mflab.studies.bayes.design import SUMMED, _load_checkpoint, _save_checkpoint

    states = {"w": jnp.ones((3, 4))}
    for count, sums in ((0, {"f_test": np.zeros((3, 50), np.float32)}), (2, {"f_test": np.full((3, 50), 2.0, np.float32)})):
        trace = Trace(np.array([0, 10]), {"overlap": np.zeros((3, 2), np.float32)}, SUMMED, 5, sums, count)
        rd = RunDir(tmp_path / f"c{count}")
        rd.path.mkdir()
        _save_checkpoint(rd, SimpleNamespace(states=states, trace=trace, halt_hits=None, steps_done=10))
        kept = np.load(rd.path / "checkpoint.npz").files
        assert ("sum_f_test" in kept) == bool(count)
        _, back, start, _ = _load_checkpoint(rd, states, 100)
        assert start == 10 and back.sum_count == count
        if count:
            np.testing.assert_array_equal(back.sums["f_test"], sums["f_test"])
