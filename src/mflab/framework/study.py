r"""The one study shape, and the one on-disk resume format.

A study is a config dataclass plus a few functions; the framework runs the skeleton (provenance,
resume, progress, tables, figures, report, summary, finish)::

    units(cfg) -> [unit, ...]                  # the units of work (hashable: str, int or tuples of them)
    setup(cfg) -> shared                       # optional: data every unit uses (rebuilt on resume, not stored)
    compute(cfg, unit, ctx) -> result          # one unit: a dict of numpy arrays and JSON values
    reduce(cfg, results, ctx) -> Reduced       # all results (in units order) -> tables, summary, report
    figures(cfg, reduced, ctx) -> {name: Figure}
    describe(summary) -> [line, ...]           # what `mflab show` prints

Resume format: every finished unit is one file ``results/units/<slug>.npz`` holding its arrays, its
JSON values (key ``__json__``) and its unit key (``__unit__``), written atomically; a unit whose
file exists is loaded instead of recomputed. A long unit checkpoints itself at
``ctx.checkpoint_name`` (``checkpoints/<slug>.npz``, relative to the run directory; removed when the
run finishes).

Minimal example (docs/architecture.md has it with a config and a registered preset)::

    >>> import numpy as np
    >>> from dataclasses import dataclass
    >>> from mflab.framework.study import Reduced, Study
    >>> @dataclass
    ... class Cfg:
    ...     preset: str = "squares"
    ...     seed: int = 0
    ...     n: int = 3
    >>> study = Study("squares", "squares of 0..n-1", Cfg, units=lambda c: list(range(c.n)),
    ...               compute=lambda c, u, ctx: {"x": np.asarray(u ** 2)},
    ...               reduce=lambda c, res, ctx: Reduced({"points": [{"u": u, "x": int(r["x"])} for u, r in res.items()]},
    ...                                                  {"total": int(sum(r["x"] for r in res.values()))}))
"""
from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import MflabError
from .presets import Preset
from .rundir import RunDir, atomic_write_bytes, provenance, resumable


@dataclass
class Reduced:
    """What a study's ``reduce`` returns: tidy tables (``results/<name>.csv``), the summary
    (``summary.json``), an optional ``report.md`` text and optional arrays (``results/<name>.npz``)."""

    tables: dict[str, list[dict]]
    summary: dict
    report: str | None = None
    arrays: dict[str, dict] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # anything the figures need beyond the tables
    error: Exception | None = None  # raised after everything is written (e.g. every chain diverged)


def unit_slug(unit) -> str:
    """File-name form of a unit key: its parts joined by ``_``, unsafe characters replaced."""
    parts = unit if isinstance(unit, tuple) else (unit,)
    return re.sub(r"[^A-Za-z0-9._+-]", "-", "_".join(str(p) for p in parts)) or "unit"


class UnitStore:
    """The resume format: one ``results/units/<slug>.npz`` per finished unit (module docstring)."""

    def __init__(self, rd: RunDir):
        self.rd = rd
        self.folder = rd.path / "results" / "units"

    def path(self, unit):
        return self.folder / f"{unit_slug(unit)}.npz"

    def has(self, unit) -> bool:
        return self.path(unit).is_file()

    def save(self, unit, result: dict):
        # arrays (numpy or jax) go to the npz as they are; numpy scalars and plain values to the JSON part
        arrays = {k: np.asarray(v) for k, v in result.items() if hasattr(v, "__array__") and not isinstance(v, np.generic)}
        meta = {k: v for k, v in result.items() if k not in arrays}
        buf = io.BytesIO()
        np.savez(buf, __json__=np.asarray(json.dumps(meta, default=_plain)), __unit__=np.asarray(json.dumps(_listify(unit))), **arrays)
        atomic_write_bytes(self.path(unit), buf.getvalue())

    def load(self, unit) -> dict:
        p = self.path(unit)
        try:
            with np.load(p, allow_pickle=False) as z:
                stored = json.loads(str(z["__unit__"]))
                if stored != _listify(unit):
                    raise ValueError(f"holds unit {stored}")
                out = json.loads(str(z["__json__"]))
                out.update({k: z[k] for k in z.files if k not in ("__json__", "__unit__")})
        except Exception as e:  # a damaged or foreign file: say which and how to proceed
            why = str(e) if isinstance(e, ValueError) and str(e).startswith("holds unit") else "damaged or not a unit file"
            raise MflabError(f"result file '{p.relative_to(self.rd.path)}' cannot be used ({why}); "
                             "fix: delete it to recompute that unit, or rerun with --force") from None
        return out


def _plain(o):
    """JSON form of numpy scalars inside JSON values."""
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _listify(unit):
    return [_listify(u) for u in unit] if isinstance(unit, (tuple, list)) else unit


class UnitContext:
    """What ``compute``, ``reduce`` and ``figures`` see besides the config: the shared setup, the run
    directory, logging, progress, and (during ``compute``) where the unit's mid-unit checkpoint goes."""

    def __init__(self, rd: RunDir, shared, progress: bool, log):
        self.rd, self.shared, self.progress, self.log = rd, shared, progress, log
        self.unit = None

    @property
    def checkpoint_name(self) -> str:
        return f"checkpoints/{unit_slug(self.unit)}.npz"


@dataclass(frozen=True)
class Study:
    """A study: its name, description, config class, presets' defaults and the functions of the
    module docstring. :meth:`preset` turns it into a registry entry."""

    name: str
    description: str
    config_cls: type
    units: Callable[[Any], list]
    compute: Callable[[Any, Any, UnitContext], dict]
    reduce: Callable[[Any, dict, UnitContext], Reduced]
    setup: Callable[[Any], Any] | None = None
    figures: Callable[[Any, Reduced, UnitContext], dict] | None = None
    describe: Callable[[dict], list[str]] | None = None
    provenance: Callable[[Any], dict] | None = None  # extra provenance fields
    unit_name: str = "unit"
    defaults: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    def preset(self, name: str | None = None, description: str | None = None, defaults: dict | None = None,
               quick: dict | None = None, tables: dict | None = None) -> Preset:
        """A registry entry running this study (optionally under another name and defaults)."""
        return Preset(name or self.name, description or self.description, self.config_cls,
                      lambda cfg, rd, progress=True, log=None: run_study(self, cfg, rd, progress, log),
                      self.defaults if defaults is None else defaults, self.quick if quick is None else quick,
                      self.tables if tables is None else tables, describe=self.describe, study=self)

    def run(self, cfg, rd: RunDir, progress: bool = True, log=None) -> dict:
        return run_study(self, cfg, rd, progress, log)


def run_study(study: Study, cfg, rd: RunDir, progress: bool = True, log=None) -> dict:
    """Run (or resume) ``study`` into ``rd``; returns the summary. The run skeleton of every study."""
    log = log or (lambda m: print(m, file=sys.stderr))
    precision = getattr(cfg, "precision", None)
    if precision is not None:
        import jax

        jax.config.update("jax_enable_x64", precision == "float64")
    rd.write_json("provenance.json", provenance(getattr(cfg, "seed", 0), study.provenance(cfg) if study.provenance else None))
    ctx = UnitContext(rd, study.setup(cfg) if study.setup else None, progress, log)
    units = list(study.units(cfg))
    slugs = [unit_slug(u) for u in units]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"study {study.name}: two units share a file name ({slugs})")
    store = UnitStore(rd)
    todo = [u for u in units if not store.has(u)]
    for unit in resumable(todo, len(units) - len(todo), f"{study.unit_name}s", study.name, study.unit_name,
                          progress and len(todo) > 1, log):
        ctx.unit = unit
        result = study.compute(cfg, unit, ctx)
        store.save(unit, result)
    ctx.unit = None
    # every unit is read back from its file, so a fresh run and a resumed one reduce the same values
    ordered = {u: store.load(u) for u in units}
    red = study.reduce(cfg, ordered, ctx)
    for name, rows in red.tables.items():
        rd.write_table(name, rows)
    for name, arrays in red.arrays.items():
        rd.write_arrays(f"results/{name}.npz", **arrays)
    if red.report is not None:
        rd.write_text("report.md", red.report)
    if study.figures is not None:
        for name, fig in study.figures(cfg, red, ctx).items():
            rd.save_figure(fig, name)
    rd.finish(red.summary)
    if red.error is not None:
        raise red.error
    return red.summary
