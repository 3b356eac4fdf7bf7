r"""Typed, validated experiment configuration.

A configuration is a tree of dataclasses. :func:`from_dict` builds it from a plain dict (a TOML
file, a preset, ``--set`` overrides). It rejects unknown keys, with a spelling suggestion, and
wrong types and values, each with a :class:`~mflab.errors.ConfigError` that names the dotted field
and the fix. Fields annotated ``list[T] | T`` accept a scalar and store a one-element list (grid
axes such as ``task.n_train`` and ``sgld.kappa``).
"""
from __future__ import annotations

import contextlib

import dataclasses
import math
import tomllib
import types
import typing
from typing import Any, Union

from ..errors import ConfigError, suggest


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _short(value, limit: int = 60) -> str:
    """repr of a user's value, cut to ``limit`` characters (a pasted array must not make a 100 KB message)."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit] + " ..."


def _coerce(value, tp, field: str):
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        lists = [a for a in args if typing.get_origin(a) is list]
        if lists and isinstance(value, (list, tuple)):
            return _coerce(value, lists[0], field)
        if lists:  # scalar given for a grid axis
            return [_coerce(value, typing.get_args(lists[0])[0], field)]
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, field)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is list:
        if not isinstance(value, (list, tuple)):
            value = [value]
        if len(value) == 0:
            raise ConfigError(field, "must not be an empty list", "give at least one value")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{field}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(field, f"must be a table of settings, got {_short(value)}", f"write [{field}] with key = value lines")
        return from_dict(tp, value, prefix=field)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(field, f"must be true or false, got {_short(value)}", "write true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(field, f"must be an integer, got {_short(value)}", "write a whole number, e.g. 512")
        if not -2**63 <= value < 2**63:
            raise ConfigError(field, f"{_short(value)} does not fit a 64-bit integer", "write a smaller whole number")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(field, f"must be a number, got {_short(value)}", "write a number, e.g. 5e-3")
        if not math.isfinite(value):
            raise ConfigError(field, f"must be finite, got {_short(value)}", "write a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(field, f"must be a string, got {_short(value)}", 'write it in quotes, e.g. "relu"')
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Bound:
    """A numeric constraint declared on a config field (:func:`bounded`)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    fix: str = ""

    def problem(self, v) -> str | None:
        for op, ref, ok in ((">=", self.ge, lambda: v >= self.ge), (">", self.gt, lambda: v > self.gt),
                            ("<=", self.le, lambda: v <= self.le), ("<", self.lt, lambda: v < self.lt)):
            if ref is not None and not ok():
                return f"must be {op} {ref if isinstance(ref, int) else format(ref, 'g')}, got {_short(v)}"
        return None


def bounded(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING, ge=None, gt=None, le=None, lt=None,
            fix: str = ""):
    """A dataclass field with its numeric constraint declared beside it, e.g.
    ``particles: int = bounded(256, ge=1, fix="a positive integer")``. :func:`from_dict` checks it (every
    item of a list; None passes) and names the field by its dotted path, before ``validate()`` runs
    the cross-field checks."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"bound": Bound(ge, gt, le, lt, fix)})


SEED_MAX = 2**32 - 1  # jax.random.key keeps the low 32 bits in float32 mode: larger seeds collide


def seed_field(default: int = 0):
    """The ``seed`` field of a study's config: an integer in [0, 2³² − 1]. ``jax.random.key`` drops the
    high bits of a larger seed outside x64 mode (key(2**40 + 5) == key(5)), so two seeds the user
    believes different would give the same numbers."""
    return bounded(default, ge=0, le=SEED_MAX, fix=f"a whole number from 0 to {SEED_MAX}")


def check_bounds(obj, prefix: str = ""):
    """The declared constraints of ``obj``'s own fields (:func:`bounded`)."""
    for f in dataclasses.fields(obj):
        bound = f.metadata.get("bound")
        if bound is None:
            continue
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        value = getattr(obj, f.name)
        items = [(dotted, value)] if not isinstance(value, list) else [(f"{dotted}[{i}]", v) for i, v in enumerate(value)]
        for name, v in items:
            problem = None if v is None else bound.problem(v)
            if problem:
                raise ConfigError(name, problem, bound.fix or None)


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass ``cls`` from a dict, validating keys, types, the declared bounds
    (:func:`bounded`), then ``cls.validate()``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(dotted, "unknown setting", suggest(key, names))
        kwargs[key] = _coerce(value, hints[key], dotted)
    for f in dataclasses.fields(cls):  # nested sections default to their own defaults
        if f.name not in kwargs and dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = from_dict(hints[f.name], {}, f"{prefix}.{f.name}" if prefix else f.name)
    obj = cls(**kwargs)
    check_bounds(obj, prefix)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def to_dict(obj) -> dict:
    """The resolved configuration as a plain dict (None values dropped: TOML has no null)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None:
            continue
        if isinstance(v, list):
            v = [to_dict(x) if dataclasses.is_dataclass(x) else x for x in v]
        out[f.name] = to_dict(v) if dataclasses.is_dataclass(v) else v
    return out


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_set(assignments: list[str]) -> dict:
    """``["sgld.steps=1000", "network.activation=erf"]`` -> nested dict. Values are read as TOML
    (numbers, booleans, lists, quoted strings); anything else is a bare string."""
    out: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(item, "a --set needs key=value", "e.g. --set sgld.steps=2000")
        key, raw = item.split("=", 1)
        key, raw = key.strip(), raw.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(item, "empty key in --set", "e.g. --set network.width=256")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(key, "conflicting --set keys", "set a field or its section, not both")
        node[leaf] = value
    return out


@contextlib.contextmanager
def config_section(section: str):
    """Library errors raised inside name their field under ``section`` (``ConfigError.within``): the one
    place a dotted config path is added to a library argument's name."""
    try:
        yield
    except ConfigError as e:
        raise e.within(section) from None


def require(cond: bool, field: str, problem: str, fix: str):
    if not cond:
        raise ConfigError(field, problem, fix)
