"""Run directories under attack: foreign and damaged checkpoints, folders mflab did not make, sweep
stores, a second live run, and host details in what is written (issue 18, reliability)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mflab.cli import main
from mflab.errors import MflabError
from mflab.framework.rundir import LOCK, RunDir, command_line, folder_lock


def run(out, *extra):
    return main(["run", "feature-kernel-mc", "--quick", "--out", str(out), "--no-progress", "--set", "seeds=2", *extra])


def error_line(capsys):
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mflab: ")]
    assert err and "Traceback" not in "".join(err)
    return err[-1]


def test_checkpoints_carry_their_configuration(tmp_path):
    a, b = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    a.prepare({"preset": "x", "n": 1})
    b.prepare({"preset": "x", "n": 2})
    a.write_checkpoint("checkpoints/c.npz", steps_done=np.asarray(5))
    assert int(a.read_checkpoint("checkpoints/c.npz")["steps_done"]) == 5 and a.read_checkpoint("nothing.npz") is None
    (b.path / "checkpoints").mkdir()
    (b.path / "checkpoints/c.npz").write_bytes((a.path / "checkpoints/c.npz").read_bytes())  # copied across runs
    with pytest.raises(MflabError, match="another configuration"):
        b.read_checkpoint("checkpoints/c.npz")
    b.write_arrays("checkpoints/c.npz", steps_done=np.asarray(5))  # no stamp: another program's, or old
    with pytest.raises(MflabError, match="no configuration stamp"):
        b.read_checkpoint("checkpoints/c.npz")
    raw = (a.path / "checkpoints/c.npz").read_bytes()
    for damaged in (raw[: len(raw) // 2], b"\0" * len(raw), b"", raw[:30] + b"x" * 40 + raw[70:]):
        (a.path / "checkpoints/c.npz").write_bytes(damaged)
        with pytest.raises(MflabError, match="damaged") as e:
            a.read_checkpoint("checkpoints/c.npz")
        assert "\n" not in str(e.value) and len(str(e.value)) < 300


def test_a_foreign_or_damaged_unit_is_refused_and_force_recovers(tmp_path, minimal_study, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(one) == 0 and main(["run", "feature-kernel-mc", "--quick", "--out", str(two), "--no-progress",
                                   "--set", "seeds=3"]) == 0
    want = json.loads((one / "summary.json").read_text())
    (one / "summary.json").unlink()
    unit = one / "results/units/64.npz"
    unit.write_bytes((two / "results/units/64.npz").read_bytes())  # a unit of another configuration
    assert run(one) == 2
    line = error_line(capsys)
    assert "results/units/64.npz" in line and "another configuration" in line and "--force" in line
    unit.write_bytes(b"PK\x03\x04 truncated")
    assert run(one) == 2 and "damaged" in error_line(capsys)
    assert run(one, "--force") == 0  # --force starts the run over, whatever its files hold
    assert json.loads((one / "summary.json").read_text()) == want


def test_folders_mflab_did_not_make_and_sweep_stores_are_never_written(tmp_path, minimal_study, capsys):
    mine = tmp_path / "mine"
    (mine / "results").mkdir(parents=True)
    (mine / "results/points.csv").write_text("my,own\n1,2\n")
    for extra in ((), ("--force",)):
        assert run(mine, *extra) == 2
        assert "not created by mflab" in error_line(capsys)
    assert (mine / "results/points.csv").read_text() == "my,own\n1,2\n" and sorted(os.listdir(mine)) == ["results"]
    store = tmp_path / "store"
    store.mkdir()
    (store / "sweep.toml").write_text('preset = "x"\n')
    (store / "summary.json").write_text('{"sweep": true}')
    for extra in ((), ("--force",)):
        assert run(store, *extra) == 2
        assert "sweep store" in error_line(capsys)
    assert (store / "summary.json").read_text() == '{"sweep": true}' and not (store / "config.toml").exists()
    assert run(tmp_path / "empty-ok") == 0  # a new folder is fine; so is rerunning it
    assert run(tmp_path / "empty-ok") == 0


def test_a_live_run_holds_its_folder(tmp_path, minimal_study, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK).write_text(json.dumps({"pid": sleeper.pid, "host": os.uname().nodename}))
        assert run(out, "--force") == 2
        line = error_line(capsys)
        assert f"pid {sleeper.pid}" in line and "live run" in line and not (out / "config.toml").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run(out) == 0 and not (out / LOCK).exists()  # the owner is gone: its stale lock is taken over
    with folder_lock(out, "run directory"):
        with pytest.raises(MflabError, match="in use by a live run"):
            with folder_lock(out, "run directory"):
                pass
    assert not (out / LOCK).exists()


def test_no_host_details_in_the_recorded_command():
    argv = ["/home/u/venv/bin/mflab", "run", "/home/u/exp.toml", "--out=/home/u/runs/x", "--scheduler",
            "tcp://10.0.0.5:8786", "--scheduler=tcp://10.0.0.6:1", "--set", "seed=3"]
    assert command_line(argv) == ["mflab", "run", "exp.toml", "--out=x", "--scheduler", "<host>", "--scheduler=<host>",
                                  "--set", "seed=3"]


def test_an_unwritable_out_is_one_line(tmp_path, minimal_study, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run(blocker / "sub") == 2
    line = error_line(capsys)
    assert "cannot create the run directory" in line and "--out" in line


def test_a_run_written_before_a_field_existed_resumes_with_its_default_and_not_with_another(tmp_path):
    """An upgrade adds a field with a default: the older run directory (its config.toml without the field) is
    the same run when the field is at its default, and is kept as written (its checkpoints' stamps match);
    with the field set otherwise it is a different configuration."""
    old = {"preset": "x", "a": 1}
    rd = RunDir(tmp_path / "run")
    rd.prepare(old)
    stamp = rd.config_stamp()
    upgrade = lambda c: {**c, "new": c.get("new", True)}  # noqa: E731  (the current version's defaults)
    assert RunDir(tmp_path / "run").prepare({"preset": "x", "a": 1, "new": True}, upgrade=upgrade) is True
    assert RunDir(tmp_path / "run").config_stamp() == stamp
    with pytest.raises(MflabError, match="different configuration"):
        RunDir(tmp_path / "run").prepare({"preset": "x", "a": 1, "new": False}, upgrade=upgrade)
    with pytest.raises(MflabError, match="different configuration"):
        RunDir(tmp_path / "run").prepare({"preset": "x", "a": 1, "new": True})  # no upgrade: compared as written
