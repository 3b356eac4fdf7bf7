r"""Run a sweep into its store: skip finished points, run the rest on an executor, gather the dataset.

Resuming is the default: rerunning the same command after SIGINT, SIGKILL or a lost worker runs
exactly the points that have no finished folder (half-written ones are removed by
:meth:`SweepStore.open`). Points that raised are recorded in ``failed/`` and skipped on later runs
unless ``retry_failed``. ``summary.json`` reports the counts, the wall time of the whole sweep and
the time spent inside presets, whose difference is the sweep machinery's overhead.
"""
from __future__ import annotations

import sys
import time

from .dataset import gather
from ..rundir import RunDir, provenance
from .store import SweepStore
from .spec import Sweep


def _where(pt) -> str:
    return ", ".join(f"{k}={v}" for k, v in pt.labels.items()) or "the single point"


def run_sweep(sw: Sweep, store: SweepStore, executor, retry_failed: bool = False, progress: bool = True,
              log=None) -> dict:
    log = log or (lambda m: print(m, file=sys.stderr))
    t0 = time.perf_counter()
    finished = {pt.key for pt in sw.points if store.is_done(pt.key)}
    failed = {pt.key for pt in sw.points if pt.key not in finished and store.failure(pt.key) is not None}
    todo = [pt for pt in sw.points if pt.key not in finished and (retry_failed or pt.key not in failed)]
    RunDir(store.path).write_json("provenance.json", provenance(sw.seed, executor.describe()))
    msg = f"{len(sw.points)} points: {len(finished)} finished, {len(todo)} to run"
    if failed and not retry_failed:
        msg += f", {len(failed)} failed earlier (skipped; --retry-failed reruns them)"
    log(msg)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"sweep {sw.preset.name}", unit="pt", file=sys.stderr)
    n_failed, run_seconds = 0, 0.0
    try:
        for pt, res in executor.run(todo, sw.preset.name):
            store.commit(pt.key, pt.labels, res)
            if res["status"] == "done":
                run_seconds += res["run_seconds"]
            else:
                n_failed += 1
                log(f"point ({_where(pt)}) failed: {res['error'].splitlines()[0] if res['error'] else ''}; "
                    f"traceback in failed/{pt.key}.json")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=n_failed)
    finally:
        if bar is not None:
            bar.close()
        datasets, status = gather(sw, store)
    wall = time.perf_counter() - t0
    n_done = sum(r["status"] == "done" for r in status)
    n_fail_total = sum(r["status"] == "failed" for r in status)
    summary = {
        "preset": sw.preset.name, "status": "completed" if n_done == len(sw.points) else "incomplete",
        "points": len(sw.points), "done": n_done, "failed": n_fail_total, "ran_now": len(todo),
        "axes": sw.axes, "batched_axes": sw.batched, "tables": {t: f"results/{t}.csv, results/{t}.nc" for t in datasets},
        "wall_seconds": wall, "run_seconds_this_call": run_seconds,
        **executor.describe(),
    }
    main = next((t for t in sw.tables if t in datasets), None)  # the preset's first table is its main one
    if main is not None:
        try:
            from .plots import main_table_figure

            fig = main_table_figure(datasets[main], [*sw.axes, *sw.batched], f"sweep of {sw.preset.name}: table '{main}', "
                                    f"{n_done}/{len(sw.points)} points")
            RunDir(store.path).save_figure(fig, main)
            summary["figures"] = [f"figures/{main}.png"]
        except Exception as e:  # a figure never costs the sweep its tables
            summary["figures_not_drawn"] = {main: f"{type(e).__name__}: {e}"}
            log(f"figure of table '{main}' not drawn ({type(e).__name__}: {e}); the tables are complete")
    if executor.name == "local" and run_seconds > 0:  # sequential: everything outside presets is overhead
        summary["overhead_fraction"] = (wall - run_seconds) / run_seconds
    RunDir(store.path).write_json("summary.json", summary)
    return summary
