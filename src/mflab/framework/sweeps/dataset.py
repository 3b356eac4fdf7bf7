r"""Gather a sweep's finished points into one tidy CSV and one labelled xarray Dataset per table.

For a result table ``T`` of the preset (``Preset.tables``), every finished point's
``results/T.csv`` is read, the point's labels (sweep axes) are prepended as columns, and the rows
are concatenated into ``SWEEP/results/T.csv``. The dataset ``SWEEP/results/T.nc`` indexes the same
rows by the sweep axes followed by the table's own index columns (for ``sgld-parity``:
``n_train``, ``kappa``), so ``xr.open_dataset("T.nc").overlap.sel(kappa=5e-3)`` does what it says.
Points not finished yet are NaN. ``run_seconds`` (wall time inside the preset) is a separate
variable over the sweep axes: it is the one quantity that differs between identical reruns.
``SWEEP/results/status.csv`` has one row per point (labels, key, seed, status, error).
"""
from __future__ import annotations

import tomli_w

from ...errors import MflabError
from ..rundir import atomic_write_bytes, tidy_csv
from .store import SweepStore
from .spec import Sweep


def point_status(sw: Sweep, store: SweepStore) -> list[dict]:
    rows = []
    for pt in sw.points:
        row = {**pt.labels, "key": pt.key, "seed": pt.config["seed"], "status": "pending", "run_seconds": None,
               "error": None}
        if store.is_done(pt.key):
            row.update(status="done", run_seconds=store.point_info(pt.key)["run_seconds"])
        elif (f := store.failure(pt.key)) is not None:
            row.update(status="failed", error=f["error"])
        rows.append(row)
    return rows


def gather(sw: Sweep, store: SweepStore) -> tuple[dict, list[dict]]:
    """Write results/status.csv and, per table, results/<table>.csv and .nc. Returns
    ({table: Dataset}, the status rows of :func:`point_status`)."""
    import pandas as pd
    import xarray as xr

    import mflab

    status = point_status(sw, store)
    atomic_write_bytes(store.path / "results" / "status.csv", tidy_csv(status))
    done = [(pt, s) for pt, s in zip(sw.points, status) if s["status"] == "done"]
    out = {}
    for table in sw.tables:
        frames = []
        for pt, _ in done:
            p = store.points_dir / pt.key / "results" / f"{table}.csv"
            if p.is_file() and p.stat().st_size:
                df = pd.read_csv(p)
                for i, (k, v) in enumerate(pt.labels.items()):
                    df.insert(i, k, [v] * len(df))
                frames.append(df)
        if not frames:
            continue
        df = pd.concat(frames, ignore_index=True)
        atomic_write_bytes(store.path / "results" / f"{table}.csv", df.to_csv(index=False).encode())
        df = df.rename(columns={a: dim_name(a) for a in [*sw.axes, *sw.zipped]})  # .sel(network_width=64)
        axes, zipped = [dim_name(a) for a in sw.axes], [dim_name(a) for a in sw.zipped]
        along_zip = zipped[1:]  # constant per point: coordinates along the first zip axis
        zip_coords = df.drop_duplicates(zipped[:1]).set_index(zipped[:1])[along_zip] if along_zip else None
        df = df.drop(columns=along_zip)
        dims = axes + [c for c in sw.preset.tables[table] if c not in axes]
        missing = [c for c in dims if c not in df.columns]
        if missing:
            raise MflabError(f"table '{table}' has no column {missing[0]!r} to index by")
        indexed = df.set_index(dims)
        if not indexed.index.is_unique:
            raise MflabError(f"table '{table}': the columns {dims} do not identify its rows uniquely")
        ds = xr.Dataset.from_dataframe(indexed)
        if zip_coords is not None:
            ds = ds.assign_coords({k: (zipped[0], zip_coords[k].reindex(ds[zipped[0]].values).values)
                                   for k in along_zip})
        if sw.axes:
            secs = pd.DataFrame([{**{dim_name(a): pt.labels[a] for a in sw.axes}, "run_seconds": s["run_seconds"]}
                                 for pt, s in done]).set_index(axes)
            ds["run_seconds"] = xr.Dataset.from_dataframe(secs)["run_seconds"]
        describe_variables(ds, sw, table)
        ds.attrs.update(preset=sw.preset.name, table=table, sweep_seed=sw.seed, mflab=mflab.__version__,
                        points_done=len(done), points_total=len(sw.points),
                        sweep_file=tomli_w.dumps(sw.spec))  # the configuration that made the dataset
        atomic_write_bytes(store.path / "results" / f"{table}.nc", bytes(ds.to_netcdf(engine="scipy")))
        out[table] = ds
    return out, status


def dim_name(axis: str) -> str:
    """The dataset dimension of a sweep axis: its dotted config field with dots as underscores
    (``network.width`` -> ``network_width``), a name ``ds.sel(network_width=64)`` accepts."""
    return axis.replace(".", "_")


def describe_variables(ds, sw: Sweep, table: str):
    """xarray attributes: each sweep axis names its config field; each variable its description and
    units from the preset's column docs (``Preset.columns``: name -> (description, units))."""
    for a in [*sw.axes, *sw.zipped]:
        if dim_name(a) in ds.variables:
            ds[dim_name(a)].attrs.update(field=a, description=f"sweep axis: the config field {a}")
    docs = {**getattr(sw.preset, "columns", {}), "run_seconds": ("wall time inside the preset for the point", "s")}
    for name in ds.variables:
        if name in docs:
            text, units = docs[name]
            ds[name].attrs.update(description=text, **({"units": units} if units else {}))

