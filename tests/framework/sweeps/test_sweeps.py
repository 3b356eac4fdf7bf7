"""Declarative sweeps: expansion and seeds, the crash-safe store, the dataset, fault tolerance, Dask."""
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import mflab
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from mflab.errors import MflabError
from mflab.framework.sweeps.executors import LocalExecutor, compute_point
from mflab.framework.sweeps.store import SweepStore
from mflab.framework.sweeps.spec import load_sweep
from mflab.framework.sweeps.runner import run_sweep

# Cheapest real points: a width-8 ResNet coordinate check, about 1.5 s each once compiled.
DEPTH = {
    "preset": "depth-coordinate-check", "widths": [8], "depths": [2], "seeds": 1, "n_inputs": 4, "d": 4,
    "variants": [{"parametrization": "depth-mup"}],
    "sweep": {"seed": 1, "grid": {"lr": [0.01, 0.02], "steps": [1, 2]}, "zip": {}},
}
SGLD = {
    "preset": "sgld-parity", "task": {"n_train": [20, 40], "n_test": 64}, "network": {"width": 8},
    "sgld": {"steps": 200, "log_every": 50, "chunk_steps": 100, "replicas": 1},
    "sweep": {"seed": 3, "quick": True, "grid": {"network.activation": ["relu", "gelu"], "sgld.kappa": [5e-3, 2e-2]}},  # (erf on the even parity is refused)
}


def write_spec(path, spec):
    path.write_text(tomli_w.dumps(spec))
    return path


def dataset(out):
    import xarray as xr

    with xr.open_dataset(out / "results" / "points.nc", engine="scipy") as ds:
        return ds.drop_vars("run_seconds").load()


# -- expansion and seeds ------------------------------------------------------------------------
def test_expansion_batches_preset_axes_and_spans_the_rest():
    sw = load_sweep(copy.deepcopy(SGLD))
    assert sw.batched == ["sgld.kappa"] and sw.axes == ["network.activation"]
    assert len(sw.points) == 2
    assert all(p.config["sgld"]["kappa"] == [5e-3, 2e-2] for p in sw.points)
    spec = copy.deepcopy(SGLD)
    spec["sweep"].update(vectorize=False, seeds=3)
    sw = load_sweep(spec)
    assert sw.axes == ["network.activation", "sgld.kappa", "replicate"] and len(sw.points) == 12
    assert len({p.config["seed"] for p in sw.points}) == 12  # every point its own seed


def test_list_fields_are_batched_unless_vectorize_is_off():
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {"depths": [2, 4, 8]}
    sw = load_sweep(copy.deepcopy(spec))
    assert sw.batched == ["depths"] and len(sw.points) == 1 and sw.points[0].config["depths"] == [2, 4, 8]
    spec["sweep"]["vectorize"] = False
    sw = load_sweep(spec)
    assert sw.axes == ["depths"] and [p.config["depths"] for p in sw.points] == [[2], [4], [8]]


def test_zip_axes_vary_together():
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {}
    spec["sweep"]["zip"] = {"lr": [0.01, 0.02, 0.03], "steps": [1, 2, 3]}
    sw = load_sweep(spec)
    assert [(p.config["lr"], p.config["steps"]) for p in sw.points] == [(0.01, 1), (0.02, 2), (0.03, 3)]


@given(st.lists(st.sampled_from([0.005, 0.01, 0.02, 0.03, 0.05, 0.1]), min_size=1, max_size=4, unique=True),
       st.lists(st.sampled_from([0.2, 0.3, 0.4]), min_size=0, max_size=2, unique=True))
def test_adding_grid_values_never_changes_existing_points(lrs, extra):
    """Seeds derive from (sweep seed, the point's own configuration, replicate): not from its index."""
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {"lr": lrs}
    before = {p.labels["lr"]: (p.key, p.config["seed"]) for p in load_sweep(copy.deepcopy(spec)).points}
    spec["sweep"]["grid"]["lr"] = extra + lrs[::-1]
    after = {p.labels["lr"]: (p.key, p.config["seed"]) for p in load_sweep(spec).points}
    assert all(after[lr] == before[lr] for lr in lrs)


def test_sweep_seed_changes_every_point():
    a = load_sweep(copy.deepcopy(DEPTH)).points
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["seed"] = 2
    b = load_sweep(spec).points
    assert all(p.config["seed"] != q.config["seed"] and p.key != q.key for p, q in zip(a, b))


# -- bad input ------------------------------------------------------------------------------------
def _bad(spec_patch):
    spec = copy.deepcopy(DEPTH)
    for k, v in spec_patch.items():
        node = spec
        *parents, leaf = k.split("/")
        for p in parents:
            node = node[p]
        node[leaf] = v
    return spec


@pytest.mark.parametrize("patch,needle", [
    ({"sweep/seeds": 0}, "sweep.seeds"),
    ({"sweep/grdi": {}}, "did you mean 'grid'"),
    ({"sweep/grid": {"lrr": [0.1]}}, "did you mean 'lr'"),
    ({"sweep/grid": {"variants.parametrization": ["sp"]}}, "variants"),
    ({"sweep/grid": {"lr": []}}, "non-empty list"),
    ({"sweep/grid": {"lr": 0.1}}, "non-empty list"),
    ({"sweep/grid": {"seed": [1, 2]}}, "'sweep.grid.seed': 'seed' cannot be swept"),
    ({"sweep/zip": {"seed": [1, 2]}}, "'sweep.zip.seed': 'seed' cannot be swept"),  # was named sweep.grid.seed
    ({"sweep/grid": {"lr": [0.1, -1.0]}}, "at sweep point lr=-1.0"),
    ({"sweep/zip": {"activation": ["tanh", "erf"], "n_inputs": [4]}}, "different lengths"),
    ({"sweep/grid": {"lr": [0.1]}, "sweep/zip": {"lr": [0.1]}}, "also in sweep.grid"),
    ({"sweep/grid": {"lr": [0.1, 0.1]}}, "same configuration"),
    ({"sweep/tables": ["nope"]}, "sweep.tables"),
    ({"widhts": [8]}, "did you mean 'widths'"),
    ({"preset": "depth-coordinate-chek"}, "did you mean 'depth-coordinate-check'"),
])
def test_bad_sweep_files_give_one_clear_line(tmp_path, patch, needle):
    r = mflab("run", str(write_spec(tmp_path / "s.toml", _bad(patch))), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mflab: error:") and needle in lines[0], r.stderr
    assert not (tmp_path / "o").exists()  # nothing is written before the whole grid validates


@pytest.mark.parametrize("args,needle", [
    (["--set", "lr=0.1"], "--set does not apply"),
    (["--executor", "spark"], "valid choices: dask, local"),
    (["--executor", "dask", "--workers", "0"], "--workers"),
    (["--scheduler", "tcp://127.0.0.1:1"], "need --executor dask"),
])
def test_bad_sweep_options(tmp_path, args, needle):
    r = mflab("run", str(write_spec(tmp_path / "s.toml", DEPTH)), "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and needle in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


SPEC_KEYS = st.sampled_from(["seed", "seeds", "quick", "vectorize", "tables", "grid", "zip", "gird", "sed"])
FIELDS = st.sampled_from(["lr", "steps", "widths", "depths", "variants", "seed", "activation", "bogus", "lr.x",
                          "variants.block_layers", "", "preset", "d"])
VALS = st.one_of(st.integers(-3, 70), st.floats(allow_nan=True), st.text(max_size=4), st.booleans(), st.none(),
                 st.lists(st.one_of(st.integers(-2, 9), st.floats(-1, 1), st.text(max_size=3)), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@given(st.dictionaries(SPEC_KEYS, st.one_of(VALS, st.dictionaries(FIELDS, VALS, max_size=3)), max_size=5),
       st.dictionaries(FIELDS, VALS, max_size=3))
def test_sweep_parser_never_crashes(sweep_table, overrides):
    """Any malformed sweep file gives a MflabError naming a field, never another exception."""
    spec = {"preset": "depth-coordinate-check", **{k: v for k, v in overrides.items() if k}, "sweep": sweep_table}
    try:
        load_sweep(spec)
    except MflabError as e:
        assert str(e)


# -- the store: resume, partial points, failures ------------------------------------------------
def test_local_sweep_resumes_and_recomputes_partial_points(tmp_path):
    sw = load_sweep(copy.deepcopy(DEPTH))
    store = SweepStore(tmp_path / "a")
    store.open(sw.spec)
    s = run_sweep(sw, store, LocalExecutor(), progress=False, log=lambda m: None)
    assert s["status"] == "completed" and s["done"] == 4
    ref = dataset(tmp_path / "a")
    assert ref.dh_L.dims == ("lr", "steps", "variant", "width", "depth", "seed")
    assert np.isfinite(ref.dh_L.sel(steps=2).values).all()
    # a half-written folder and a folder without point.json (killed mid-commit) are removed and recomputed
    victim = sw.points[1]
    os.rename(store.points_dir / victim.key, store.points_dir / f".{victim.key}.999.tmp")
    (store.points_dir / sw.points[2].key / "point.json").unlink()
    assert SweepStore(tmp_path / "a").open(sw.spec) == 2
    ran = []
    s = run_sweep(sw, store, LocalExecutor(), progress=False, log=ran.append)
    assert "2 finished, 2 to run" in ran[0] and s["done"] == 4
    assert dataset(tmp_path / "a").identical(ref)


def test_zip_axes_become_one_dimension_with_coordinates(tmp_path):
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {}
    spec["sweep"]["zip"] = {"lr": [0.02, 0.01], "steps": [1, 2]}
    sw = load_sweep(spec)
    store = SweepStore(tmp_path / "z")
    store.open(sw.spec)
    run_sweep(sw, store, LocalExecutor(), progress=False, log=lambda m: None)
    ds = dataset(tmp_path / "z")
    assert "lr" in ds.dims and "steps" not in ds.dims
    assert ds.steps.sel(lr=0.02).item() == 1 and ds.steps.sel(lr=0.01).item() == 2


class FailOnce(LocalExecutor):
    def __init__(self, key):
        self.key = key

    def run(self, points, preset_name):
        for pt in points:
            if pt.key == self.key:
                try:
                    raise RuntimeError("injected failure")
                except RuntimeError as e:
                    import traceback

                    yield pt, {"status": "failed", "error": f"RuntimeError: {e}", "traceback": traceback.format_exc()}
            else:
                yield pt, compute_point(preset_name, pt.config)


def test_failed_points_are_recorded_shown_and_retried(tmp_path):
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {"lr": [0.01, 0.02]}
    sw = load_sweep(spec)
    out = tmp_path / "f"
    store = SweepStore(out)
    store.open(sw.spec)
    bad = sw.points[0]
    s = run_sweep(sw, store, FailOnce(bad.key), progress=False, log=lambda m: None)
    assert s["status"] == "incomplete" and s["failed"] == 1 and s["done"] == 1
    rec = json.loads((out / "failed" / f"{bad.key}.json").read_text())
    assert "injected failure" in rec["error"] and "Traceback" in rec["traceback"]
    shown = mflab("show", str(out))
    assert shown.returncode == 0 and "failed: lr=0.01" in shown.stdout and "--retry-failed" in shown.stdout
    logs = []
    s = run_sweep(sw, store, LocalExecutor(), progress=False, log=logs.append)
    assert s["ran_now"] == 0 and "failed earlier (skipped" in logs[0]
    s = run_sweep(sw, store, LocalExecutor(), retry_failed=True, progress=False, log=lambda m: None)
    assert s["status"] == "completed" and not (out / "failed" / f"{bad.key}.json").exists()


def test_a_different_sweep_is_refused_unless_forced(tmp_path):
    spec = copy.deepcopy(DEPTH)
    store = SweepStore(tmp_path / "r")
    store.open(spec)
    other = copy.deepcopy(spec)
    other["sweep"]["seed"] = 9
    with pytest.raises(MflabError, match="different sweep"):
        SweepStore(tmp_path / "r").open(other)
    SweepStore(tmp_path / "r").open(other, force=True)
    assert SweepStore(tmp_path / "r").read_spec() == other
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    with pytest.raises(MflabError, match="not empty"):
        SweepStore(tmp_path / "plain").open(spec)


def test_sweep_survives_being_killed_at_random_moments(tmp_path):
    """SIGKILL the sweep process several times at random moments (SIGINT once), then let it finish:
    the dataset equals an uninterrupted run's, and no point was stored twice."""
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {"lr": [0.01, 0.02, 0.03, 0.04], "steps": [1, 2, 3]}
    f = write_spec(tmp_path / "s.toml", spec)
    ref_dir = tmp_path / "ref"
    sw = load_sweep(spec)
    store = SweepStore(ref_dir)
    store.open(sw.spec)
    run_sweep(sw, store, LocalExecutor(), progress=False, log=lambda m: None)
    out = tmp_path / "killed"
    rng = np.random.default_rng(0)
    cmd = [sys.executable, "-m", "mflab.cli", "run", str(f), "--out", str(out), "--no-progress"]
    def finished():
        return sum(1 for q in (out / "points").glob("*") if not q.name.startswith("."))

    progress = []
    for i in range(3):  # each round: wait for one new point, then kill at a random moment of the next
        before = finished()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while finished() == before and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        p.send_signal(signal.SIGINT if i == 1 else signal.SIGKILL)
        p.wait(timeout=60)
        progress.append(finished())
        if progress[-1] == len(sw.points):  # a fast machine finished the sweep before this kill: no more rounds
            break
    # the first kill lands within 0.4 s of the first point, before the other 11 can finish;
    # later rounds may find the sweep finished on a fast machine, which the loop allows
    assert 0 < progress[0] < len(sw.points), progress
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(p.key for p in sw.points)
    assert dataset(out).identical(dataset(ref_dir))


# -- Dask ---------------------------------------------------------------------------------------------
def test_dask_cluster_matches_local_survives_a_killed_worker_and_leaks_nothing(tmp_path, monkeypatch):
    """A real local cluster (worker processes): one worker is SIGKILLed while points run; its
    in-flight point is retried elsewhere, the dataset is identical to the local executor's, and
    no host path or environment secret reaches the run directory."""
    pytest.importorskip("distributed")
    from mflab.framework.sweeps.executors import DaskExecutor

    monkeypatch.setenv("MFLAB_TEST_SECRET", "s3cr3t-t0ken-value")
    spec = copy.deepcopy(DEPTH)
    spec["sweep"]["grid"] = {"lr": [0.01, 0.02, 0.03], "steps": [1, 2]}
    sw = load_sweep(spec)
    local = SweepStore(tmp_path / "local")
    local.open(sw.spec)
    run_sweep(sw, local, LocalExecutor(), progress=False, log=lambda m: None)

    ex = DaskExecutor(workers=2)
    try:
        pids = list(ex.client.run(os.getpid).values())
        store = SweepStore(tmp_path / "dask")
        store.open(sw.spec)
        inner = ex.run

        def run_and_kill(points, preset_name):
            for i, item in enumerate(inner(points, preset_name)):
                if i == 0:
                    os.kill(pids[0], signal.SIGKILL)  # the other worker keeps going; the nanny restarts this one
                yield item
        ex.run = run_and_kill
        s = run_sweep(sw, store, ex, progress=False, log=lambda m: None)
        assert pids[0] not in ex.client.run(os.getpid).values()  # the worker really died (and was replaced)
    finally:
        ex.close()
    assert s["status"] == "completed" and s["executor"] == "dask", s
    assert dataset(tmp_path / "dask").identical(dataset(tmp_path / "local"))
    needles = [n for n in (str(tmp_path), os.path.expanduser("~"), "s3cr3t-t0ken-value", os.getcwd()) if len(n) > 4]
    for p in (tmp_path / "dask").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for n in needles:
                assert n.encode() not in data, (p.relative_to(tmp_path), n)


def test_replicate_seeds_never_collide_and_earlier_replicates_keep_theirs():
    """31-bit seeds collide among ~10⁵ replicates (birthday bound); a collision is redrawn, never reported
    as a repeated grid value, and the first replicates' seeds do not depend on how many follow."""
    from mflab.framework.sweeps.spec import derive_seed

    cfg = {"a": 1}
    s0 = derive_seed(0, cfg, 0)
    assert derive_seed(0, cfg, 0, taken={s0}) != s0  # a forced collision is redrawn
    seeds = []
    for r in range(2000):
        seeds.append(derive_seed(0, cfg, r, set(seeds)))
    assert len(set(seeds)) == 2000 and seeds[:5] == [derive_seed(0, cfg, r) for r in range(5)]
    spec = copy.deepcopy(DEPTH)
    spec["sweep"].update(seeds=3, grid={"lr": [0.01]})
    assert len({pt.config["seed"] for pt in load_sweep(spec).points}) == 3


def test_a_sweep_with_failed_points_exits_non_zero_and_keeps_what_they_wrote(tmp_path, capsys):
    """Every chain diverging fails the point after its run directory is written: the sweep says so, exits 1,
    and the point's files stay under failed/<key>/ with a traceback free of host paths."""
    from mflab.cli import main

    spec = copy.deepcopy(SGLD)
    spec["sgld"]["lr"] = 1e4
    spec["sweep"]["grid"] = {"network.activation": ["relu"]}
    path = tmp_path / "div.toml"
    write_spec(path, spec)
    out = tmp_path / "store"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 1
    assert "1 point(s) failed" in capsys.readouterr().err
    (rec,) = [json.loads(p.read_text()) for p in (out / "failed").glob("*.json")]
    kept = out / "failed" / rec["key"]
    assert rec["partial_files"] == f"failed/{rec['key']}/" and (kept / "summary.json").is_file()
    assert json.loads((kept / "summary.json").read_text())["status"] == "diverged"
    text = json.dumps(rec)
    assert "DivergenceError" in rec["error"] and str(Path.home()) not in text and sys.prefix not in text
    assert "/tmp/" not in text and "mflab-point-" not in text


def test_dataset_dimensions_select_without_dots_and_describe_themselves(tmp_path):
    import xarray as xr

    spec = copy.deepcopy(SGLD)
    spec["sweep"]["grid"] = {"network.activation": ["relu"], "sgld.kappa": [5e-3, 2e-2]}
    sw = load_sweep(spec)
    store = SweepStore(tmp_path / "s")
    store.open(sw.spec)
    run_sweep(sw, store, LocalExecutor(), progress=False, log=lambda m: None)
    with xr.open_dataset(tmp_path / "s/results/points.nc", engine="scipy") as ds:
        assert set(ds.overlap.dims) == {"network_activation", "n_train", "kappa"}
        assert ds.overlap.sel(network_activation="relu", kappa=5e-3).shape == (2,)
        assert ds.network_activation.attrs["field"] == "network.activation"
        assert "Gibbs" in ds.test_mse_gibbs.attrs["description"] and "posterior mean" in ds.test_mse_mean.attrs["description"]
        assert ds.run_seconds.attrs["units"] == "s" and 'preset = "sgld-parity"' in ds.attrs["sweep_file"]
    # the sweep draws its main table: one panel per variable against the first varying axis, labelled
    assert (tmp_path / "s/figures/points.png").stat().st_size > 0
    s = json.loads((tmp_path / "s/summary.json").read_text())
    assert s["figures"] == ["figures/points.png"] and "figures_not_drawn" not in s


def test_the_main_table_figure_labels_its_axes_and_says_what_it_averaged():
    import xarray as xr

    from mflab.framework.sweeps.plots import main_table_figure

    rng = np.random.default_rng(0)
    ds = xr.Dataset({"overlap": (("lr", "width", "seed"), rng.random((3, 2, 4))),
                     "label": (("lr", "width", "seed"), np.full((3, 2, 4), "x")),
                     "run_seconds": (("lr",), np.ones(3))},
                    coords={"lr": [0.01, 0.1, 1.0], "width": [8, 16], "seed": [0, 1, 2, 3]})
    ds.overlap.attrs["units"] = "1"
    fig = main_table_figure(ds, ["lr", "width"], "t")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "lr" and ax.get_ylabel() == "overlap [1]"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["width = 8", "width = 16"]
    assert "mean over seed" in fig.texts[-1].get_text()
    line = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(line, ds.overlap.sel(width=8).mean("seed").values)
    with pytest.raises(ValueError):
        main_table_figure(ds.isel(lr=[0], width=[0], seed=[0]), ["lr"], "t")
