"""The study framework: one shape, one resume format (units), show through the study's describe."""
import json

import numpy as np
import pytest

from mflab.cli import main
from mflab.errors import MflabError
from mflab.framework.rundir import RunDir
from mflab.framework.study import UnitStore, unit_slug


def test_minimal_study_runs_resumes_and_shows(tmp_path, minimal_study, capsys):
    out = tmp_path / "fk"
    args = ["run", "feature-kernel-mc", "--quick", "--out", str(out), "--no-progress", "--set", "seeds=4"]
    assert main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert -0.8 < s["slope"] < -0.3  # the N^{-1/2} Monte-Carlo rate, independently of our code's theory
    units = sorted(p.name for p in (out / "results" / "units").iterdir())
    assert units == ["16.npz", "256.npz", "64.npz"]
    # interrupted after two units: the finished ones are not recomputed, the result is identical
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results" / "units").iterdir()}
    (out / "summary.json").unlink()
    (out / "results" / "units" / "256.npz").unlink()
    assert main(args) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results" / "units").iterdir()}
    assert after["16.npz"] == before["16.npz"] and after["64.npz"] == before["64.npz"]
    assert json.loads((out / "summary.json").read_text()) == s
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "expected -0.5" in capsys.readouterr().out


def test_a_damaged_unit_file_gets_one_line_naming_it(tmp_path, minimal_study, capsys):
    out = tmp_path / "fk"
    args = ["run", "feature-kernel-mc", "--quick", "--out", str(out), "--no-progress", "--set", "seeds=2"]
    assert main(args) == 0
    (out / "summary.json").unlink()
    (out / "results" / "units" / "64.npz").write_bytes(b"not an npz")
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mflab: error")]
    assert len(err) == 1 and "results/units/64.npz" in err[0] and "delete it" in err[0] and len(err[0]) < 200


def test_unit_store_round_trips_arrays_and_json_values(tmp_path):
    store = UnitStore(RunDir(tmp_path))
    result = {"x": np.arange(3.0), "rows": [{"a": 1, "b": None, "c": np.float32(0.5)}], "n": np.int64(4)}
    store.save(("mf-ard", 7), result)
    back = store.load(("mf-ard", 7))
    np.testing.assert_array_equal(back["x"], result["x"])
    assert back["rows"] == [{"a": 1, "b": None, "c": 0.5}] and back["n"] == 4
    assert unit_slug(("mf-ard", 7)) == "mf-ard_7"
    (tmp_path / "results/units/mf-ard_7.npz").rename(tmp_path / "results/units/other.npz")
    store.save("other", {"y": np.zeros(1)})
    with pytest.raises(MflabError):  # a file of another unit under this name is refused
        store.path("x").parent.joinpath("x.npz").write_bytes((tmp_path / "results/units/other.npz").read_bytes())
        store.load("x")


def test_written_files_honour_the_umask(tmp_path):
    import os

    from mflab.framework.rundir import atomic_write_bytes

    old = os.umask(0o002)
    try:
        atomic_write_bytes(tmp_path / "a" / "x.csv", b"1\n")
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "a" / "y.csv", b"1\n")
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "x.csv").stat().st_mode & 0o777 == 0o664  # group-writable, as `open` would make it
    assert (tmp_path / "a" / "y.csv").stat().st_mode & 0o777 == 0o600


def test_importing_the_studies_keeps_the_users_matplotlib_backend():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import mflab.studies, mflab.framework.style; "
            "import matplotlib.pyplot as plt; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "svg", out.stderr


def test_a_figure_that_cannot_be_drawn_loses_nothing_and_every_run_has_a_report(tmp_path, minimal_study, capsys,
                                                                                monkeypatch):
    """A run NaN from its first step used to crash in the figure code after its results were computed: the
    summary, tables and report are written anyway and the summary names the figure not drawn."""
    import dataclasses

    from mflab.framework.presets import PRESETS

    preset = PRESETS["feature-kernel-mc"]

    def broken(cfg, red, ctx):
        raise ValueError("Data cannot be log-scaled because all values are <= 0.")

    monkeypatch.setitem(PRESETS, "feature-kernel-mc", dataclasses.replace(
        preset, run=lambda cfg, rd, progress=True, log=None: dataclasses.replace(preset.study, figures=broken).run(
            cfg, rd, progress, log)))
    out = tmp_path / "nofig"
    assert main(["run", "feature-kernel-mc", "--quick", "--out", str(out), "--no-progress", "--set", "seeds=2"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert "log-scaled" in s["figures_not_drawn"]["figures"] and "figure figures not drawn" in capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert report.startswith("# feature-kernel-mc") and "not drawn" in report and "## Configuration" in report
    assert "results/" in report
