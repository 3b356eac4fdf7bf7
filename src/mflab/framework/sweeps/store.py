r"""The sweep store: a content-addressed, crash-safe directory of finished grid points.

Layout::

    SWEEP/
      sweep.toml            the sweep file as given (``mflab run SWEEP/sweep.toml`` reruns it)
      provenance.json       versions, git revision, sweep seed, executor
      points/<key>/         one finished point: a complete run directory of its preset
                            (config.toml, provenance.json, summary.json, results/, figures/)
                            plus point.json (labels, seed, run seconds, log)
      failed/<key>.json     a point that raised: labels, error, traceback (``mflab show SWEEP``)
      results/<table>.csv   tidy table of every finished point, one row per observation
      results/<table>.nc    the same as a labelled xarray Dataset (netCDF3, scipy engine)
      results/status.csv    one row per point: labels, key, seed, status, run seconds, error
      figures/<table>.png   the main table's first variables against the first sweep axis (and .pdf)

``<key>`` is :func:`mflab.framework.sweeps.spec.config_hash` of the point's resolved configuration.

**Atomicity.** Workers never write here. A finished point arrives as a dict of files; the store
writes them into ``points/.<key>.<pid>.tmp``, fsyncs them and renames the folder to
``points/<key>`` (one atomic ``rename``). So after SIGINT or SIGKILL at any moment, a folder
``points/<key>`` is complete, and what is left is a ``.tmp`` folder that :meth:`SweepStore.open`
removes: that point is recomputed, never half-read, never duplicated.
"""
from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import tomli_w

from ...errors import MflabError
from ..rundir import _jsonable, atomic_write_bytes

POINT_FILE = "point.json"


class SweepStore:
    """The content-addressed point store of a sweep directory: one atomically written file per finished point
    under the hash of its configuration, failures kept apart, partial writes cleaned on open."""

    def __init__(self, path):
        self.path = Path(path)
        self.points_dir = self.path / "points"
        self.failed_dir = self.path / "failed"

    # -- claiming the directory ---------------------------------------------------------
    def open(self, spec: dict, force: bool = False) -> int:
        """Claim the directory for sweep ``spec``; returns how many partly written points were removed.

        A directory that holds other files but no sweep (a run directory, the user's own files) is
        refused, whatever ``force`` says; a different sweep is refused unless ``force``. With ``force`` the new sweep.toml replaces the old one and finished points are
        kept: they are stored under the hash of their own full configuration, so they stay valid
        and are reused by any grid that contains them.
        """
        for leftover in [*self.path.glob(".*.tmp"), *self.path.glob("results/.*.tmp")]:
            leftover.unlink()  # an atomic write interrupted before its rename
        old = self.read_spec()
        if old is None and self.path.is_dir() and any(p.name != ".lock" for p in self.path.iterdir()):
            raise MflabError(f"'{self.path.name}' is not empty and holds no sweep (a run directory, or files mflab "
                             "did not write); fix: choose another --out (a new or empty folder)")
        if old is not None and old != spec and not force:
            raise MflabError(f"'{self.path.name}' holds a different sweep; fix: choose another --out, or pass "
                             "--force (finished points are kept and reused where the new grid contains them)")
        self.path.mkdir(parents=True, exist_ok=True)
        if old != spec:
            atomic_write_bytes(self.path / "sweep.toml", tomli_w.dumps(spec).encode())
        return self.remove_partial()

    def read_spec(self) -> dict | None:
        p = self.path / "sweep.toml"
        return tomllib.loads(p.read_text()) if p.is_file() else None

    def remove_partial(self) -> int:
        """Delete half-written point folders (``.tmp`` leftovers, or a folder without point.json)."""
        n = 0
        if self.points_dir.is_dir():
            for p in self.points_dir.iterdir():
                if p.name.startswith(".") or not (p / POINT_FILE).is_file():
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
                    n += 1
        return n

    # -- state ------------------------------------------------------------------------
    def is_done(self, key: str) -> bool:
        return (self.points_dir / key / POINT_FILE).is_file()

    def failure(self, key: str) -> dict | None:
        p = self.failed_dir / f"{key}.json"
        return json.loads(p.read_text()) if p.is_file() else None

    def point_info(self, key: str) -> dict:
        return json.loads((self.points_dir / key / POINT_FILE).read_text())

    def clear_failure(self, key: str):
        (self.failed_dir / f"{key}.json").unlink(missing_ok=True)
        if (self.failed_dir / key).is_dir():
            shutil.rmtree(self.failed_dir / key)

    # -- committing results -----------------------------------------------------------
    def commit(self, key: str, labels: dict, result: dict):
        """Store what a worker returned for point ``key``: its files, or its failure."""
        if result["status"] != "done":
            kept = self.failed_dir / key  # what the point wrote before it failed, for inspection
            if kept.is_dir():
                shutil.rmtree(kept)
            for rel, data in result.get("files", {}).items():
                if ".." not in Path(rel).parts and not Path(rel).is_absolute():
                    atomic_write_bytes(kept / rel, data)
            atomic_write_bytes(self.failed_dir / f"{key}.json", (json.dumps(_jsonable({
                "key": key, "labels": labels, "error": result["error"], "traceback": result.get("traceback"),
                "log": result.get("log", []), "partial_files": f"failed/{key}/" if result.get("files") else None}),
                indent=2) + "\n").encode())
            return
        final = self.points_dir / key
        if final.exists():  # a retried task finished twice: the first copy stands
            return
        tmp = self.points_dir / f".{key}.{os.getpid()}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        info = {"key": key, "labels": labels, "seed": result.get("seed"), "run_seconds": result["run_seconds"],
                "log": result.get("log", [])}
        files = dict(result["files"])
        files[POINT_FILE] = (json.dumps(_jsonable(info), indent=2) + "\n").encode()
        for rel, data in files.items():
            target = tmp / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise MflabError(f"point {key} returned an unsafe file name {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, final)
        self.clear_failure(key)
