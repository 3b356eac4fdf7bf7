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
import re
import time
import traceback
from pathlib import Path
from typing import Iterator

from ...errors import MflabError

EXECUTORS = ("local", "dask")
SCHEDULER_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss|inproc)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def compute_point(preset_name: str, config: dict) -> dict:
    """Run one point. Returns ``{"status": "done", "files": {relpath: bytes}, "run_seconds", "seed",
    "log"}`` or ``{"status": "failed", "error", "traceback", "log"}``; never raises an Exception."""
    import tempfile

    logs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mflab-point-") as tmp:
        try:
            os.environ.setdefault("MPLBACKEND", "Agg")
            import jax

            from ..config import from_dict
            from ..presets import get_preset
            from ..rundir import RunDir

            jax.config.update("jax_enable_x64", False)
            preset = get_preset(preset_name)
            cfg = from_dict(preset.config_cls, config)
            rd = RunDir(tmp)
            rd.prepare(config)
            t = time.perf_counter()
            preset.run(cfg, rd, progress=False, log=logs.append)
            seconds = time.perf_counter() - t
            return {"status": "done", "files": _files(tmp), "run_seconds": seconds, "seed": config.get("seed"),
                    "log": logs}
        except Exception as e:  # recorded in the store with what the point wrote; the sweep goes on
            return {"status": "failed", "error": scrub_paths(f"{type(e).__name__}: {e}", tmp),
                    "traceback": scrub_paths(traceback.format_exc(), tmp), "log": logs, "files": _files(tmp)}


def _files(folder) -> dict:
    """{relative path: bytes} of the files a point wrote (hidden ones, the marker and lock, left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def scrub_paths(text: str, *extra) -> str:
    """``text`` (an error or traceback) without the host's absolute paths: the point's scratch folder,
    mflab's source, the Python installation and the home folder become <point>, <mflab>, <python>, ~."""
    import site
    import sys

    import mflab

    subs = [(str(x), "<point>") for x in extra] + [(Path(x).name, "<point>") for x in extra]
    subs.append((str(Path(mflab.__file__).resolve().parent), "<mflab>"))
    subs += [(p, "<python>") for p in {*site.getsitepackages(), site.getusersitepackages(), sys.prefix,
                                         sys.base_prefix, sys.exec_prefix} if p and p != "/"]
    subs.append((str(Path.home()), "~"))
    for path, name in sorted(subs, key=lambda s: -len(s[0])):  # longest first: nested prefixes
        text = text.replace(path, name)
    return text


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
            except (OSError, TimeoutError, ValueError) as e:
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
                    res = {"status": "failed", "error": scrub_paths(f"{type(e).__name__}: {e}"),
                           "traceback": scrub_paths(traceback.format_exc())}
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
    if scheduler is not None and not SCHEDULER_ADDRESS.match(scheduler):
        raise MflabError(f"--scheduler {scheduler[:60]!r} is not a scheduler address; fix: give one like "
                         "tcp://10.0.0.5:8786 (what `dask scheduler` prints)")


def make_executor(name: str, scheduler: str | None = None, workers: int | None = None):
    check_executor(name, scheduler, workers)
    return LocalExecutor() if name == "local" else DaskExecutor(scheduler, workers)
