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

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import DivergenceError, MflabError
from .presets import Preset
from .rundir import RunDir, provenance, resumable


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
    figures: bool = True  # False: nothing to draw (:meth:`diverged`)

    @classmethod
    def diverged(cls, summary: dict, what: str, fix: str, ctx) -> "Reduced":
        """The reduction of a run that diverged wherever it mattered (``what``: where), so that nothing is
        left to tabulate or draw: the summary (status ``diverged``, ``divergence``: the line) and report.md
        say so, the finished units stay in results/units, and the run ends in one line naming the fix (a
        :class:`DivergenceError`, raised after all of that is written)."""
        msg = (f"{what}; there is nothing to reduce (the finished units are kept in "
               f"'{ctx.rd.path.name}/results/units'). Fix: {fix}.")
        return cls({}, {**summary, "status": "diverged", "divergence": msg}, error=DivergenceError(msg), figures=False)


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
        self.rd.write_checkpoint(self.name(unit), __json__=np.asarray(json.dumps(meta, default=_plain)),
                                 __unit__=np.asarray(json.dumps(_listify(unit))), **arrays)

    def name(self, unit) -> str:
        return self.path(unit).relative_to(self.rd.path).as_posix()

    def load(self, unit) -> dict:
        """A finished unit's values; a damaged file, another configuration's or another unit's is refused
        in one line (:meth:`RunDir.read_checkpoint`)."""
        z = self.rd.read_checkpoint(self.name(unit), "result file")
        why = None
        try:
            stored = json.loads(str(z.pop("__unit__")))
            out = json.loads(str(z.pop("__json__")))
            if stored != _listify(unit):
                why = f"holds unit {stored}"
        except (KeyError, ValueError):
            why = "not a unit file"
        if why:
            raise MflabError(f"result file '{self.name(unit)}' cannot be used ({why}); "
                             "fix: delete it to recompute that unit, or rerun with --force") from None
        out.update(z)
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
    columns: dict = field(default_factory=dict)  # table column -> (description, units), for sweep datasets

    def preset(self, name: str | None = None, description: str | None = None, defaults: dict | None = None,
               quick: dict | None = None, tables: dict | None = None) -> Preset:
        """A registry entry running this study (optionally under another name and defaults)."""
        return Preset(name or self.name, description or self.description, self.config_cls,
                      lambda cfg, rd, progress=True, log=None: run_study(self, cfg, rd, progress, log),
                      self.defaults if defaults is None else defaults, self.quick if quick is None else quick,
                      self.tables if tables is None else tables, describe=self.describe, columns=self.columns,
                      study=self)

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
    drawn, failed = draw_figures(study, cfg, red, ctx) if red.figures else ([], {})
    if failed:
        red.summary["figures_not_drawn"] = failed
    rd.write_text("report.md", red.report if red.report is not None else default_report(study, cfg, red, drawn, failed))
    rd.finish(red.summary)
    if red.error is not None:
        raise red.error
    return red.summary


def draw_figures(study: Study, cfg, red: Reduced, ctx: UnitContext) -> tuple[list[str], dict]:
    """Draw and save the study's figures. A figure that cannot be drawn (a run that is NaN from its first
    step, every chain diverged) is skipped with one logged line, never at the cost of the summary and
    tables: returns (the names drawn, {name or 'figures': why not})."""
    import matplotlib.pyplot as plt

    if study.figures is None:
        return [], {}
    drawn, failed = [], {}
    try:
        figs = study.figures(cfg, red, ctx)
    except Exception as e:  # noqa: BLE001  the numbers are written already; a plot must not lose them
        figs, failed["figures"] = {}, f"{type(e).__name__}: {e}"
    for name, fig in figs.items():
        try:
            ctx.rd.save_figure(fig, name)
            drawn.append(name)
        except Exception as e:  # noqa: BLE001
            plt.close(fig)
            failed[name] = f"{type(e).__name__}: {e}"
    for name, why in failed.items():
        ctx.log(f"figure {name} not drawn ({' '.join(why.split())[:200]}); the tables and summary are written")
    return drawn, failed


def default_report(study: Study, cfg, red: Reduced, drawn: list[str], failed: dict) -> str:
    """report.md of a study without its own: what it is, its headline lines (``describe``), its tables
    and figures, and the configuration, so every run directory explains itself."""
    from .config import to_dict

    lines = [f"# {study.name}", "", study.description, ""]
    if red.summary.get("status") == "diverged" and red.summary.get("divergence"):
        lines += ["## Diverged", "", str(red.summary["divergence"]), ""]
    elif study.describe is not None:
        try:
            body = list(study.describe(red.summary))
        except (KeyError, TypeError, ValueError, AttributeError):
            body = ["(the summary does not have this study's fields)"]
        lines += ["## Results", "", "```", *body, "```", ""]
    if red.tables:
        lines += ["## Tables (results/)", ""]
        lines += [f"- `results/{n}.csv`: {len(rows)} rows; columns " + ", ".join(f"`{c}`" for c in
                  dict.fromkeys(k for r in rows for k in r)) for n, rows in red.tables.items()]
        lines.append("")
    if drawn or failed:
        lines += ["## Figures (figures/)", ""]
        lines += [f"![{n}](figures/{n}.png)" for n in drawn]
        lines += [f"- {n}: not drawn ({' '.join(why.split())[:200]})" for n, why in failed.items()]
        lines.append("")
    try:
        import tomli_w

        lines += ["## Configuration", "", "```toml", tomli_w.dumps(to_dict(cfg)).rstrip(), "```", ""]
    except (TypeError, ValueError):
        pass
    return "\n".join(lines)
