r"""Declarative sweeps: a TOML file that names a preset, fixed overrides and a grid of parameters.

A sweep file is an ordinary preset configuration plus a ``[sweep]`` table::

    preset = "sgld-parity"
    [sgld]                       # fixed overrides, as in any config file
    steps = 2000
    [sweep]
    seed = 0                     # the sweep seed; every point's seed derives from it
    seeds = 2                    # replicate points per grid point (dimension "replicate")
    quick = true                 # start from the preset's --quick settings
    vectorize = true             # grid axes the preset batches itself stay inside one point
    tables = ["points"]          # result tables gathered into the dataset (default: the preset's)
    [sweep.grid]                 # cartesian product; dotted field names
    "network.width" = [64, 128]
    "sgld.kappa" = [1e-3, 5e-3]  # a batched axis of the preset: one compiled call, not two points
    [sweep.zip]                  # axes that vary together (equal lengths); the first names the
                                 # dataset dimension, the others are coordinates along it
    "sgld.lr" = [5e-2, 2e-2]
    "sgld.steps" = [2000, 4000]

**Points.** Grid axes whose field is itself a list of scalars in the preset's configuration (for
example ``sgld.kappa``, ``task.n_train``, ``widths``) are *batched* axes: with ``vectorize = true`` the
whole value list is handed to one point, which runs every value inside one compiled call (chains and
κ are vmapped lanes). Every other axis, the zip group and the replicate index span separate points.

**Seeds.** A point's seed is ``derive_seed(sweep.seed, config_without_seed, replicate)``: a hash of
the sweep seed, the point's fully resolved configuration and its replicate index. Adding values to
a grid therefore never changes the seed, hence the numbers, of an existing point. (Changing the
value list of a batched axis changes that one point's configuration; set ``vectorize = false``
to give every value its own point.)

**Identity.** A point is stored under ``config_hash`` of its resolved configuration (seed
included), so a finished point is recognised whatever grid it was reached from.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Union

from ...errors import ConfigError, MflabError, suggest
from ..config import deep_merge, from_dict, to_dict
from ..rundir import canonical_json, config_digest

SWEEP_KEYS = ("seed", "seeds", "quick", "vectorize", "tables", "grid", "zip")
REPLICATE = "replicate"


@dataclass(frozen=True)
class Point:
    """One unit of work: a resolved preset configuration, its store key and its labels."""

    key: str  # config_hash(config)
    labels: dict  # point-axis values, by axis name (dotted field names, and "replicate")
    config: dict  # resolved configuration, seed included


@dataclass
class Sweep:
    """A sweep file expanded: its preset, the axes that span the dataset, the points (each a full config with
    its content hash) and the tables to gather."""

    preset: object  # mflab.framework.presets.Preset
    spec: dict  # the sweep file as given (re-runnable; stored as sweep.toml)
    axes: list[str]  # dataset dimensions spanned by points: grid axes, the first zip axis, "replicate"
    batched: list[str]  # grid axes handed whole to each point
    zipped: list[str]  # zip axes: the first is a dimension, the others are coordinates along it
    tables: list[str]
    points: list[Point]
    seed: int


config_hash = config_digest  # a point's store key: the digest of its resolved configuration, seed included
MAX_POINTS = 100_000  # a larger grid is refused before any point is built (it would take minutes to expand)


def derive_seed(sweep_seed: int, config_without_seed: dict, replicate: int, taken=()) -> int:
    """A 31-bit seed from the sweep seed, the point's configuration and its replicate index. ``taken`` are
    the seeds of the same configuration's earlier replicates: on a collision (likely among 10⁵ replicates
    of 31-bit seeds) the hash is redrawn with a counter, so replicates always differ and adding replicates
    never changes the earlier ones."""
    for attempt in itertools.count():
        salt = [sweep_seed, replicate, config_without_seed] + ([attempt] if attempt else [])
        h = hashlib.sha256(canonical_json(salt).encode()).digest()
        seed = int.from_bytes(h[:4], "little") & 0x7FFFFFFF
        if seed not in taken:
            return seed


def is_sweep(data: dict) -> bool:
    return isinstance(data, dict) and "sweep" in data


def field_type(cls, dotted: str):
    """The annotation of a dotted field of config class ``cls``; ConfigError naming the bad part."""
    tp, done = cls, []
    for part in dotted.split("."):
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            raise ConfigError(".".join(done), "is a value, not a section", f"remove '.{part}'")
        hints = typing.get_type_hints(tp)
        if part not in hints:
            raise ConfigError(".".join(done + [part]), "unknown setting", suggest(part, hints))
        tp, done = hints[part], done + [part]
    return tp


def _scalar_list_field(tp) -> bool:
    """True for ``list[scalar]`` or ``list[scalar] | scalar`` fields (axes a preset batches itself)."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)
    for a in args:
        if typing.get_origin(a) is list:
            (item,) = typing.get_args(a)
            return item in (int, float, str, bool)
    return False


def _nested(assignments: dict) -> dict:
    out: dict = {}
    for dotted, value in assignments.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _axis_values(table: dict, name: str) -> dict[str, list]:
    if not isinstance(table, dict):
        raise ConfigError(f"sweep.{name}", "must be a table of field = [values]",
                          f'write [sweep.{name}] then "network.width" = [64, 128]')
    for k, v in table.items():
        if not isinstance(v, list) or len(v) == 0:
            raise ConfigError(f"sweep.{name}.{k}", f"must be a non-empty list of values, got {v!r}",
                              f'e.g. "{k}" = [1, 2]')
        if any(isinstance(x, dict) for x in v):
            raise ConfigError(f"sweep.{name}.{k}", "values must be numbers, strings, booleans or lists",
                              "give one value per point")
    return table


def _int_setting(sw: dict, name: str, default: int, minimum: int) -> int:
    v = sw.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"sweep.{name}", f"must be an integer >= {minimum}, got {v!r}", f"e.g. {name} = {max(minimum, 1)}")
    return v


def _bool_setting(sw: dict, name: str, default: bool) -> bool:
    v = sw.get(name, default)
    if not isinstance(v, bool):
        raise ConfigError(f"sweep.{name}", f"must be true or false, got {v!r}", "write true or false")
    return v


def load_sweep(data: dict, quick: bool = False) -> Sweep:
    """Validate a sweep file (already parsed TOML) and expand it into points.

    Every point's configuration is built and validated here, before anything runs, so a bad value
    anywhere in the grid is reported up front with the field and the point it belongs to.
    """
    from ..presets import get_preset

    if not isinstance(data, dict) or not isinstance(data.get("sweep"), dict):
        raise ConfigError("sweep", "must be a table", "write a [sweep] section (see docs/sweeps.md)")
    sw = data["sweep"]
    for k in sw:
        if k not in SWEEP_KEYS:
            raise ConfigError(f"sweep.{k}", "unknown setting", suggest(k, SWEEP_KEYS))
    if "preset" not in data:
        raise ConfigError("preset", "a sweep file must name its preset", 'add preset = "sgld-parity" (see `mflab presets`)')
    if not isinstance(data["preset"], str):
        raise ConfigError("preset", f"must be a preset name, got {data['preset']!r}", "see `mflab presets`")
    preset = get_preset(data["preset"])
    seed = _int_setting(sw, "seed", 0, 0)
    n_rep = _int_setting(sw, "seeds", 1, 1)
    quick = _bool_setting(sw, "quick", False) or quick
    vectorize = _bool_setting(sw, "vectorize", True)
    tables = sw.get("tables", list(preset.tables))
    if not isinstance(tables, list) or not tables or any(t not in preset.tables for t in tables):
        raise ConfigError("sweep.tables", f"must be a list drawn from {list(preset.tables)}, got {tables!r}",
                          f"e.g. tables = {json.dumps(list(preset.tables)[:1])}")
    grid = _axis_values(sw.get("grid", {}), "grid")
    zipped = _axis_values(sw.get("zip", {}), "zip")
    for axis, k in [("grid", k) for k in grid] + [("zip", k) for k in zipped]:
        if k in ("seed", "preset"):
            raise ConfigError(f"sweep.{axis}.{k}", f"'{k}' cannot be swept",
                              "use sweep.seeds for replicates (seeds derive from sweep.seed)")
        field_type(preset.config_cls, k)
    both = set(grid) & set(zipped)
    if both:
        k = sorted(both)[0]
        raise ConfigError(f"sweep.zip.{k}", "is also in sweep.grid", "put each field in one of grid or zip")
    if len({len(v) for v in zipped.values()}) > 1:
        raise ConfigError("sweep.zip", "axes have different lengths " + str({k: len(v) for k, v in zipped.items()}),
                          "give every zip axis the same number of values")

    batched = [k for k, v in grid.items() if vectorize and _scalar_list_field(field_type(preset.config_cls, k))
               and not any(isinstance(x, list) for x in v)]
    point_grid = {k: v for k, v in grid.items() if k not in batched}
    overrides = {k: v for k, v in data.items() if k not in ("sweep", "preset")}
    base = deep_merge(preset.defaults, preset.quick) if quick else dict(preset.defaults)
    base = deep_merge(deep_merge(base, overrides), _nested({k: grid[k] for k in batched}))
    base["preset"] = preset.name
    axes = list(point_grid) + list(zipped)[:1] + ([REPLICATE] if n_rep > 1 else [])

    zip_rows = [dict(zip(zipped, vals)) for vals in zip(*zipped.values())] if zipped else [{}]
    n_points = math.prod(len(v) for v in point_grid.values()) * len(zip_rows) * n_rep
    if n_points > MAX_POINTS:
        raise ConfigError("sweep.grid", f"expands to {n_points:,} points (limit {MAX_POINTS:,})",
                          "fewer values per axis or fewer sweep.seeds, or batch axes the preset vectorises "
                          "(vectorize = true), or split the sweep into several files")
    points, seen = [], {}
    for combo in itertools.product(*point_grid.values()):
        for zrow in zip_rows:
            assign = {**dict(zip(point_grid, combo)), **zrow}
            taken: set[int] = set()
            for r in range(n_rep):
                labels = {**assign, **({REPLICATE: r} if n_rep > 1 else {})}
                cfg = _point_config(preset, base, assign, seed, r, labels, taken)
                taken.add(cfg["seed"])
                key = config_hash(cfg)
                if key in seen:
                    raise ConfigError("sweep.grid", f"points {seen[key]} and {labels} have the same configuration",
                                      "remove the repeated value")
                seen[key] = labels
                points.append(Point(key, labels, cfg))
    if zipped and len(set(map(canonical_json, next(iter(zipped.values()))))) < len(zip_rows):
        raise ConfigError(f"sweep.zip.{next(iter(zipped))}", "the first zip axis labels the points, so its values "
                          "must be distinct", "put an axis with distinct values first")
    return Sweep(preset, data, axes, batched, list(zipped), tables, points, seed)


def _point_config(preset, base: dict, assign: dict, sweep_seed: int, replicate: int, labels: dict, taken=()) -> dict:
    where = ", ".join(f"{k}={v!r}" for k, v in labels.items())
    try:
        merged = deep_merge(base, _nested(assign))
        merged["seed"] = 0
        cfg = to_dict(from_dict(preset.config_cls, merged))
    except ConfigError as e:
        raise ConfigError(e.field, e.problem + (f" (at sweep point {where})" if where else ""), e.fix) from None
    except MflabError as e:
        raise MflabError(f"{e} (at sweep point {where})") from None
    cfg.pop("seed")
    cfg["seed"] = derive_seed(sweep_seed, cfg, replicate, taken)
    return cfg
