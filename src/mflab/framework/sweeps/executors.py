r"""Where sweep points run: in this process (``local``) or on a Dask distributed cluster (``dask``).

Both executors call the same pure task, :func:`compute_point`: it runs a preset on one resolved
configuration in a private temporary directory and *returns* the files it wrote (or the error and
traceback it raised). Only the client writes the store, so workers need no shared file system and
a worker killed mid-point loses nothing but that point, which Dask reschedules on another worker
(up to ``distributed.scheduler.allowed-failures`` times, default 3; after that the point is
recorded as failed with the ``KilledWorker`` error and the sweep goes on).

Same configuration, same seed, same numbers: the task resets JAX to its default float32 mode
before each point, so a long-lived worker's earlier points cannot leak state into later ones.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import Iterator

from ...errors import MflabError

EXECUTORS = ("local", "dask")


def compute_point(preset_name: str, config: dict) -> dict:
    """Run one point. Returns ``{"status": "done", "files": {relpath: bytes}, "run_seconds", "seed",
    "log"}`` or ``{"status": "failed", "error", "traceback", "log"}``; never raises an Exception."""
    import tempfile

    logs: list[str] = []
    try:
        os.environ.setdefault("MPLBACKEND", "Agg")
        import jax

        from ..config import from_dict
        from ..presets import get_preset
        from ..rundir import RunDir

        jax.config.update("jax_enable_x64", False)
        preset = get_preset(preset_name)
        cfg = from_dict(preset.config_cls, config)
        with tempfile.TemporaryDirectory(prefix="mflab-point-") as tmp:
            rd = RunDir(tmp)
            rd.prepare(config)
            t = time.perf_counter()
            preset.run(cfg, rd, progress=False, log=logs.append)
            seconds = time.perf_counter() - t
            files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*"))
                     if p.is_file() and not p.name.startswith(".")}
        return {"status": "done", "files": files, "run_seconds": seconds, "seed": config.get("seed"), "log": logs}
    except Exception as e:  # recorded in the store; the sweep goes on
        return {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                "log": logs}


class LocalExecutor:
    """Points one after another in this process (each point vectorises its own chains)."""

    name = "local"

    def describe(self) -> dict:
        return {"executor": "local"}

    def run(self, points, preset_name: str) -> Iterator:
        for pt in points:
            yield pt, compute_point(preset_name, pt.config)

    def close(self):
        pass


class DaskExecutor:
    """Points as tasks on a Dask distributed cluster: ``scheduler`` is an address such as
    ``tcp://10.0.0.5:8786`` (a Slurm or Kubernetes deployment, see docs/sweeps.md); without one, a
    local cluster of ``workers`` processes with one thread each is started and closed with the sweep."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MflabError("--executor dask needs dask.distributed; fix: pip install 'mflab[dask]'") from None
        self.cluster = None
        self.scheduler = scheduler
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise MflabError(f"cannot reach the Dask scheduler at {scheduler} ({type(e).__name__}); "
                                 "fix: check --scheduler and that `dask scheduler` is running") from None
        else:
            n = workers or max(1, (os.cpu_count() or 2) // 2)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)

    def describe(self) -> dict:  # no addresses: run directories carry nothing about the hosts
        return {"executor": "dask", "cluster": "remote" if self.scheduler else "local",
                "workers": len(self.client.scheduler_info().get("workers", {}))}

    def run(self, points, preset_name: str) -> Iterator:
        from distributed import as_completed

        futures = {self.client.submit(compute_point, preset_name, pt.config, key=f"mflab-point-{pt.key}",
                                      pure=False): pt for pt in points}
        try:
            for fut in as_completed(futures):
                pt = futures[fut]
                try:
                    res = fut.result()
                except Exception as e:  # KilledWorker after repeated worker deaths, or a lost connection
                    res = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
                fut.release()
                yield pt, res
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_executor(name: str, scheduler: str | None = None, workers: int | None = None):
    """Validate executor options without starting anything."""
    if name not in EXECUTORS:
        from ...errors import ConfigError, suggest

        raise ConfigError("--executor", f"unknown executor '{name}'", suggest(name, EXECUTORS))
    if workers is not None and workers < 1:
        raise MflabError(f"--workers must be >= 1, got {workers}; fix: e.g. --workers 2")
    if name == "local" and (scheduler or workers):
        raise MflabError("--scheduler and --workers need --executor dask; fix: add --executor dask")


def make_executor(name: str, scheduler: str | None = None, workers: int | None = None):
    check_executor(name, scheduler, workers)
    return LocalExecutor() if name == "local" else DaskExecutor(scheduler, workers)
