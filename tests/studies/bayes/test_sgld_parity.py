"""The network-posterior study's sampler options: the kinetic sampler, the published stopping protocol, bad input.
Runs go through the CLI in-process (``mflab.cli.main``), as a user would start them."""
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from cli_runner import csv_rows
from mflab.cli import main

TINY = ["--set", "task.n_train=[20,200]", "--set", "task.n_test=256", "--set", "network.width=16",
        "--set", "sgld.log_every=50", "--set", "sgld.chunk_steps=500"]


@pytest.fixture(autouse=True)
def keep_x64():
    old = jax.config.jax_enable_x64  # a run sets the precision of its config; later tests keep theirs
    yield
    jax.config.update("jax_enable_x64", old)


def test_published_protocol_stops_each_chain_after_its_rule_and_keeps_its_final_weights(tmp_path):
    out = tmp_path / "pub"
    args = ["run", "sgld-parity-published", "--quick", "--out", str(out), "--no-progress", *TINY,
            "--set", "sgld.steps=3000", "--set", "sgld.stop.extra_steps=100", "--set", "sgld.stop.small_n_train=100"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "SGLD (final weights)" and summary["sample"] == "final"
    final = csv_rows(out / "results" / "final.csv")
    trace = csv_rows(out / "results" / "trace.csv")
    met = [r for r in final if r["criterion_met_at"] not in ("", "nan")]
    assert met and summary["stopped_chains"] == len(met)
    for r in final:
        rows = [t for t in trace if t["chain"] == r["chain"]]
        if r in met:  # stopped exactly extra_steps after the log at which its rule held, and still from then on
            assert float(r["stopped_at"]) == float(r["criterion_met_at"]) + 100
            after = [float(t["overlap"]) for t in rows if int(t["step"]) >= float(r["stopped_at"])]
            assert len(set(after)) == 1
            rule = "train_error01" if int(r["n_train"]) <= 100 else "test_mse"
            at = next(t for t in rows if int(t["step"]) == int(float(r["criterion_met_at"])))
            assert float(at[rule]) <= (0.01 if rule == "train_error01" else 0.03)
        # the sample is the final weights: the chain's last log, not an average
        assert float(r["test_mse_gibbs"]) == pytest.approx(float(rows[-1]["test_mse"]), rel=1e-6)
        assert r["test_mse_mean"] in ("", "nan")  # one sample has no posterior mean
    # rerunning resumes to the same numbers without stepping again
    assert main(args) == 0
    assert csv_rows(out / "results" / "final.csv") == final
    _progress_report_compares_arrivals(out, tmp_path)


def _progress_report_compares_arrivals(out, tmp_path):
    """scripts/published_protocol_progress.py on the finished run, its own final weights as the "equilibrium" (so
    every chain has arrived by its last log) and a fast sampler that arrives at step 10: per P the protocol's
    median arrival and that over 10; a misspelt sampler label gets one line."""
    script = Path(__file__).parents[3] / "scripts" / "published_protocol_progress.py"
    fast = tmp_path / "equilibration.json"
    fast.write_text(json.dumps({"points": [{"P": P, "fast": {"t_arr_median": 10.0}} for P in (20, 200)]}))
    run = [sys.executable, str(script), str(out), "--equilibrium", str(out), "--stem", "progress"]
    r = subprocess.run([*run, "--fast", f"{fast}:fast"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    prog = json.loads((tmp_path / "progress.json").read_text())
    steps = {int(c["n_train"]): [] for c in prog["chains"]}
    final = {(int(r["n_train"]), int(r["replica"])): r for r in csv_rows(out / "results" / "final.csv")}
    for c in prog["chains"]:
        assert 0 <= c["arrival"] <= c["step"]
        row = final[(c["n_train"], c["replica"])]  # a finished run keeps where each rule held and the chain stopped
        if row["criterion_met_at"] not in ("", "nan"):
            assert c["rule_met_at"] == float(row["criterion_met_at"]) and c["step"] == float(row["stopped_at"])
        else:
            assert c["rule_met_at"] is None and c["step"] == 3000
        steps[c["n_train"]].append(c["arrival"])
    for p in prog["points"]:
        assert p["arrival_median"] == pytest.approx(np.median(steps[p["n_train"]]))
        assert p["ratio"] == pytest.approx(p["arrival_median"] / 10) and not p["arrival_is_lower_bound"]
    assert "| protocol arrival, median over seeds |" in (tmp_path / "progress.md").read_text()
    r = subprocess.run([*run, "--fast", f"{fast}:fsat"], capture_output=True, text=True)
    assert r.returncode != 0 and "no sampler 'fsat'" in r.stderr and "Traceback" not in r.stderr
    _learning_curve_report_reads_the_protocol(tmp_path, prog)
    _a_run_on_its_own_clock_predicts_itself(run, out, tmp_path)


def _a_run_on_its_own_clock_predicts_itself(run, out, tmp_path):
    """--clock with the protocol run itself as the constant-η run (any SGLD schedule has a clock): at equal τ
    each chain's m is its own, and the predicted sample (the end, or the extra steps after the rule first held)
    is the chain's final weights; a kinetic run has no diffusion clock and gets one line."""
    r = subprocess.run([*run, "--clock", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    prog = json.loads((tmp_path / "progress.json").read_text())
    final = {(int(c["n_train"]), int(c["replica"])): c for c in csv_rows(out / "results" / "final.csv")}
    assert (tmp_path / "progress-clock.png").is_file() and "## On the diffusion's clock" in (tmp_path / "progress.md").read_text()
    assert len(prog["clock"]["chains"]) == len(final)
    for c in prog["clock"]["chains"]:
        row = final[(c["n_train"], c["replica"])]
        assert c["clock_m_at_tau_now"] == pytest.approx(c["m_now"], abs=1e-6)
        assert c["m_now_minus_clock"] == pytest.approx(0.0, abs=1e-6)
        assert c["predicted_m"] == pytest.approx(float(row["overlap"]), abs=1e-6)  # the sample: its final weights
        if row["criterion_met_at"] not in ("", "nan"):  # the rule read off its own trace: where it held and stopped
            assert c["protocol_step_of_rule"] == pytest.approx(float(row["criterion_met_at"]))
            assert c["protocol_step_of_sample"] == pytest.approx(float(row["stopped_at"]))
        else:
            assert c["protocol_step_of_rule"] is None and c["protocol_step_of_sample"] == 3000
    for P, a in prog["clock"]["per_P"].items():
        assert a["predicted_m"] == pytest.approx(a["m_now"], abs=1e-6)
        assert a["m_now_minus_clock"] == pytest.approx(0.0, abs=1e-6) and a["m_now_minus_clock_se"] < 1e-6
    _another_reading_of_the_rule_moves_the_predicted_sample(run, out, tmp_path)
    kin = tmp_path / "kin"
    assert main(["run", "sgld-parity", "--quick", "--out", str(kin), "--no-progress", *TINY, "--set", "sgld.steps=100",
                 "--set", "sgld.sampler=kinetic"]) == 0
    r = subprocess.run([*run, "--clock", str(kin)], capture_output=True, text=True)
    assert r.returncode != 0 and "kinetic sampler" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*run, "--clock", str(out), "--clock-P", "5"], capture_output=True, text=True)
    assert r.returncode != 0 and "no chain at P = [5]" in r.stderr and "Traceback" not in r.stderr


def _learning_curve_report_reads_the_protocol(folder, prog):
    """scripts/published_parity_report.py's protocol rows from the progress report: the run has finished, so
    every row says so, with the progress report's m; a chain moved back to an earlier step, short of its rule's
    end and of the last step, makes its row "in progress" (a row in progress is never called a result)."""
    report = _script("published_parity_report")
    rows = report.protocol(folder)
    assert sorted(rows) == sorted(p["n_train"] for p in prog["points"])
    for p in prog["points"]:
        assert rows[p["n_train"]]["finished"] and rows[p["n_train"]]["m"] == p["m"]
    c = prog["chains"][0]
    c["step"], c["rule_met_at"] = prog["meta"]["protocol"]["log_every"], None
    (folder / "progress.json").write_text(json.dumps(prog))
    rows = report.protocol(folder)
    assert not rows[c["n_train"]]["finished"]
    assert all(r["finished"] for P, r in rows.items() if P != c["n_train"])


def _another_reading_of_the_rule_moves_the_predicted_sample(run, out, tmp_path):
    """--fallback-rule replaces the small-P rule in the prediction only: a rule that never holds (train MSE ≤ −1)
    puts every sample at the run's end (both P are ≤ 550), the report says which rule it read, the learning-curve
    report leaves such a report out, and a rule without a threshold or on an unknown metric gets one line."""
    r = subprocess.run([*run, "--clock", str(out), "--fallback-rule", "train_mse:-1", "--stem", "variant"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    prog = json.loads((tmp_path / "variant.json").read_text())
    assert prog["meta"]["clock"]["fallback_rule"] == {"metric": "train_mse", "below": -1.0}
    assert "reads the small-P rule (P ≤ 550) as train_mse ≤ -1" in (tmp_path / "variant.md").read_text()
    for c in prog["clock"]["chains"]:
        assert c["protocol_step_of_rule"] is None and c["protocol_step_of_sample"] == 3000
    report = _script("published_parity_report")
    (tmp_path / "progress-variant.json").write_text((tmp_path / "variant.json").read_text())
    assert all(a["source"] != "progress-variant.json" for a in report.clock_predictions(tmp_path).values())
    for spec, needle in (("train_mse", "give the threshold"), ("trian_mse:0.01", "must be one of")):
        r = subprocess.run([*run, "--clock", str(out), "--fallback-rule", spec], capture_output=True, text=True)
        assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr


def test_implied_tau_reads_a_published_value_back_on_the_clock():
    """published_protocol_progress.implied_tau: the first τ > 0 where the seeds' mean curve meets the target,
    linear between logs; None where it never does or without a target."""
    implied_tau = _script("published_protocol_progress").implied_tau
    t = np.array([0.0, 10, 20, 30])
    curves = [np.array([9.0, 2.0, 1.0, 0.0]), np.array([9.0, 1.0, 1.0, 1.0])]  # mean 9, 1.5, 1.0, 0.5
    assert implied_tau([t, t], curves, 1.25) == pytest.approx(15.0)
    assert implied_tau([t, t], curves, 1.0) == pytest.approx(20.0)
    assert implied_tau([t, t], curves, 0.1) is None and implied_tau([t, t], curves, None) is None
    assert implied_tau([t, t[:3]], [curves[0], curves[1][:3]], 0.5) is None  # cut to the common length


def _script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[3] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kinetic_sampler_runs_the_study_and_says_so(tmp_path, capsys):
    out = tmp_path / "kin"
    assert main(["run", "sgld-parity", "--quick", "--out", str(out), "--no-progress", *TINY,
                 "--set", "sgld.steps=500", "--set", "sgld.sampler=kinetic"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "kinetic Langevin" and summary["status"] == "completed"
    assert all(np.isfinite(p["test_mse_mean"]) for p in summary["points"])
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "network: kinetic Langevin" in capsys.readouterr().out


def test_a_preconditioned_sampler_moves_its_chains_differently_and_says_so(tmp_path, capsys):
    """A non-default preconditioner, like a readout draw, changes the chains (the same keys give other states) and
    is named wherever the method is; the default is the plain sampler, bit for bit."""
    runs = {}
    for name, sets in (("plain", []), ("unit", ["sgld.preconditioner.first_layer=1", "sgld.preconditioner.readout=1"]),
                       ("pre", ["sgld.preconditioner.first_layer=4"]), ("draw", ["sgld.readout_gibbs_every=10"])):
        out = tmp_path / name
        assert main(["run", "sgld-parity", "--quick", "--out", str(out), "--no-progress", *TINY, "--set", "sgld.steps=200",
                     "--set", "sgld.sampler=kinetic", *[x for s in sets for x in ("--set", s)]]) == 0
        runs[name] = json.loads((out / "summary.json").read_text())
    m = {k: [p["overlap"] for p in v["points"]] for k, v in runs.items()}
    assert m["plain"] == m["unit"] and m["pre"] != m["plain"] and m["draw"] != m["plain"]
    assert runs["pre"]["method"] == "kinetic Langevin (M⁻¹: first layer ×4, readout ×1)"
    assert runs["draw"]["method"] == "kinetic Langevin (readout drawn exactly every 10 steps)"
    capsys.readouterr()
    assert main(["show", str(tmp_path / "pre")]) == 0
    assert "first layer ×4" in capsys.readouterr().out


@pytest.mark.parametrize("preset,sets,needle", [
    ("sgld-parity", ["sgld.sampler=kinetik"], "'sgld.sampler': unknown sampler 'kinetik'"),
    ("sgld-parity", ["sgld.friction=0.1"], "'sgld.friction': friction is a parameter of the kinetic sampler"),
    ("sgld-parity", ["sgld.sampler=kinetic", "sgld.friction=-1"], "'sgld.friction': must be > 0"),
    ("sgld-parity", ["sgld.sampler=kinetic", "sgld.kappa=[0]"], "'sgld.friction': the default (critical) friction is 0"),
    ("sgld-parity", ["sgld.sampler=kinetic", "sgld.noise=coupled"], "'sgld.noise': noise = 'coupled' is an SGLD option"),
    ("sgld-parity", ["sgld.stop.metric=test_mse"], "'sgld.stop': a stopping rule ends chains at different steps"),
    ("sgld-parity-published", ["sgld.stop.metric=test_mze"], "'sgld.stop.metric': unknown metric 'test_mze'"),
    ("sgld-parity-published", ["sgld.stop.extra_steps=130"], "'sgld.stop.extra_steps': 130 is not a multiple"),
    ("sgld-parity-published", ["task.name=single-index", "task.k=2", "task.d=8"],
     "'sgld.stop.fallback_metric': 'train_error01' needs ±1 labels"),
    ("sgld-parity", ["sgld.sample=last"], "'sgld.sample': unknown sample 'last'"),
    ("sgld-parity", ["sgld.sampler=kinetic", "sgld.preconditioner.first_layer=0"],
     "'sgld.preconditioner.first_layer': must be > 0"),
    ("sgld-parity", ["sgld.preconditioner.readout=-2"], "'sgld.preconditioner.readout': must be > 0"),
    ("sgld-parity", ["sgld.preconditioner.firstlayer=2"], "'sgld.preconditioner.firstlayer': unknown setting"),
    ("sgld-parity", ["sgld.readout_gibbs_every=0"], "'sgld.readout_gibbs_every': must be >= 1"),
    ("sgld-parity", ["sgld.readout_gibbs_every=5", "sgld.kappa=[0]"],
     "'sgld.readout_gibbs_every': the readout's conditional law needs a temperature T > 0"),
    ("sgld-parity", ["sgld.readout_gibbs_every=5", "sgld.noise=coupled"],
     "'sgld.readout_gibbs_every': an exact readout draw breaks the coupled noise"),
    ("sgld-parity", ["sgld.readout_gibs_every=5"], "did you mean 'readout_gibbs_every'?"),
])
def test_bad_sampler_settings_get_one_line(capsys, preset, sets, needle):
    assert main(["run", preset, "--quick", *[x for s in sets for x in ("--set", s)]]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0], err


def test_a_learned_start_takes_each_chain_from_the_final_weights_of_another_run(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    assert main(["run", "sgld-parity", "--quick", "--out", str(src), "--no-progress", *TINY, "--set", "sgld.steps=500"]) == 0
    assert main(["run", "sgld-parity", "--quick", "--out", str(dst), "--no-progress", *TINY, "--set", "sgld.steps=100",
                 "--set", f"sgld.init_from={src}"]) == 0
    last = {}
    for r in csv_rows(src / "results" / "trace.csv"):  # the source's final state, per replica, at its largest P (200)
        if r["n_train"] == "200":
            last[r["replica"]] = r
    for r in csv_rows(dst / "results" / "trace.csv"):
        if r["step"] == "0":  # every chain of the new run (P = 20 and 200) starts there
            src_row = last[r["replica"]]
            assert float(r["w2_support"]) == pytest.approx(float(src_row["w2_support"]), rel=1e-5)
            assert float(r["overlap"]) == pytest.approx(float(src_row["overlap"]), abs=1e-5)
    assert "learned" in json.loads((dst / "summary.json").read_text())["init"]
    capsys.readouterr()
    assert main(["run", "sgld-parity", "--quick", "--out", str(tmp_path / "x"), *TINY, "--set", "network.width=32",
                 "--set", f"sgld.init_from={src}"]) == 2
    assert "'sgld.init_from':" in capsys.readouterr().err
    assert main(["run", "sgld-parity", "--quick", "--out", str(tmp_path / "y"), *TINY,
                 "--set", f"sgld.init_from={tmp_path / 'nothing'}"]) == 2
    assert "'sgld.init_from': cannot read" in capsys.readouterr().err


def test_clock_step_bias_extrapolates_through_the_runs_it_is_given(tmp_path):
    """scripts/clock_step_bias.py with a constant-η run as the "protocol" and that run and one at twice its η as the
    clock runs: the line through m(η) read at the protocol's own η is the protocol's m at every τ and seed (the τ of
    both schedules, the reading of both traces and the paired difference all enter); the slope is the two runs'
    difference over their η gap. One η only, or a P the protocol has not run, gets one line."""
    runs = {}
    for lr, steps in ((0.01, 300), (0.02, 150)):
        out = runs[lr] = tmp_path / f"lr{lr}"
        assert main(["run", "sgld-parity", "--quick", "--out", str(out), "--no-progress", *TINY,
                     "--set", "sgld.schedule=constant", "--set", f"sgld.lr={lr}", "--set", f"sgld.steps={steps}",
                     "--set", "sgld.log_every=10"]) == 0
    script = Path(__file__).parents[3] / "scripts" / "clock_step_bias.py"
    run = [sys.executable, str(script), str(runs[0.01]), "--P", "20,200", "--tau", "0.5,1.7,3", "--stem", "bias"]
    r = subprocess.run([*run, "--clock", str(runs[0.01]), "--clock", str(runs[0.02])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "bias.json").read_text())
    assert res["etas"] == [0.01, 0.02] and set(res["per_P"]) == {"20", "200"}
    for rows in res["per_P"].values():
        assert [row["tau"] for row in rows] == [0.5, 1.7, 3.0]  # and the "protocol's" end, τ = 3
        for row in rows:
            for s in row["seeds"]:
                assert s["protocol"] == pytest.approx(s["m"]["0.01"], abs=1e-6)
                assert s["extrapolated"] == pytest.approx(s["protocol"], abs=1e-5)
                assert s["slope"] == pytest.approx((s["m"]["0.02"] - s["m"]["0.01"]) / 0.01, abs=1e-3)
                assert s["pooled"] == pytest.approx((s["m"]["0.02"] + s["m"]["0.01"]) / 2, abs=1e-6)
            assert row["protocol_minus_extrapolated"][0] == pytest.approx(0.0, abs=1e-5)
    assert any(abs(s["slope"]) > 1e-3 for rows in res["per_P"].values() for row in rows for s in row["seeds"])
    assert (tmp_path / "bias.png").is_file() and "| protocol − extrapolated |" in (tmp_path / "bias.md").read_text()
    for extra, needle in ((["--clock", str(runs[0.01])], "two or more different η"),
                          (["--clock", str(runs[0.01]), "--clock", str(runs[0.02]), "--P", "5"], "no chain there")):
        r = subprocess.run([*run, *extra], capture_output=True, text=True)
        assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr
