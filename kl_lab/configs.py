"""Configs and results as JSON, and ``--set field=value`` overrides: the harness's serialisation layer.

* :func:`to_jsonable` / :func:`from_jsonable` -- results pytrees to JSON (non-finite floats as the
  strings ``'inf'``, ``'-inf'``, ``'nan'``) and back (nested lists to arrays);
* :func:`config_from_jsonable` -- a ``Config`` dataclass from its JSON form (lists back to tuples);
* :func:`parse_overrides` -- ``["field=value", ...]`` typed from the ``Config`` field's annotation.

Examples:
  >>> import numpy as np
  >>> to_jsonable({"x": np.array([1.0, np.inf])})
  {'x': [1.0, 'inf']}
  >>> from_jsonable([1.0, "inf"])
  array([ 1., inf])
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from types import UnionType
from typing import Any

import numpy as np

__all__ = [
    "to_jsonable",
    "from_jsonable",
    "map_nested",
    "config_from_jsonable",
    "parse_overrides",
    "ConfigOverrideError",
]


def to_jsonable(x: Any) -> Any:
    """Arrays -> nested lists; non-finite floats -> the strings 'inf', '-inf', 'nan'.

    Dataclasses and NamedTuples become dicts of their fields; booleans, strings and integers stay themselves.

    Example:
      >>> to_jsonable({"x": np.array([1.0, np.inf]), "n": np.int64(3)})
      {'x': [1.0, 'inf'], 'n': 3}
    """
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {k: to_jsonable(v) for k, v in zip(x._fields, x)}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (str, bool)) or x is None:
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    a = np.asarray(x)
    if a.dtype == bool or a.dtype.kind in "US":  # booleans and strings (e.g. curve names) stay themselves
        return a.tolist()
    if np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    if np.issubdtype(a.dtype, np.floating):

        def f(v: float) -> Any:
            return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))

        if a.ndim == 0:
            return f(float(a))
        return map_nested(a.astype(float).tolist(), f)
    return str(x)


def map_nested(v: Any, f: Any) -> Any:
    """``f`` applied to every leaf of nested lists ``v`` (a non-list is a leaf).

    Example:
      >>> map_nested([1, [2, 3]], lambda x: 10 * x)
      [10, [20, 30]]
    """
    return [map_nested(u, f) for u in v] if isinstance(v, list) else f(v)


def from_jsonable(x: Any) -> Any:
    """Inverse of :func:`to_jsonable` for results: nested lists -> arrays, 'inf'/'nan' -> floats.

    Example:
      >>> from_jsonable({"x": [1.0, "-inf"], "name": "kl"})
      {'x': array([  1., -inf]), 'name': 'kl'}
    """
    if isinstance(x, dict):
        return {k: from_jsonable(v) for k, v in x.items()}
    if isinstance(x, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(x, x)
    if isinstance(x, list):
        flat = map_nested(x, lambda v: {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(v, v))
        try:
            return np.asarray(flat)
        except ValueError:  # ragged: keep a list of arrays
            return [from_jsonable(v) for v in x]
    if isinstance(x, float):
        return np.float64(x)
    return x


def config_from_jsonable(config_cls: type, d: dict) -> Any:
    """Rebuild a ``Config`` dataclass from its JSON form (lists back to tuples where the default is one).

    Args:
      config_cls: the experiment's ``Config`` dataclass.
      d: its JSON form (a dict of field values).

    Example:
      >>> import dataclasses
      >>> @dataclasses.dataclass(frozen=True)
      ... class Config:
      ...     n: tuple = (10, 20)
      ...     seed: int = 0
      >>> config_from_jsonable(Config, {"n": [5, 6], "seed": 1})
      Config(n=(5, 6), seed=1)
    """
    kwargs = {}
    for f in dataclasses.fields(config_cls):
        if f.name not in d:
            continue
        v = d[f.name]
        kwargs[f.name] = _to_tuples(v) if isinstance(v, list) else v
    return config_cls(**kwargs)


def _to_tuples(v: Any) -> Any:
    return tuple(_to_tuples(u) for u in v) if isinstance(v, list) else v


class ConfigOverrideError(ValueError):
    """A ``--set field=value`` that names no field of ``Config`` or whose value does not parse.

    Example:
      >>> issubclass(ConfigOverrideError, ValueError)
      True
    """


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse_as(text: str, tp: Any, default: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, UnionType):
        if text.strip().lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _parse_as(text, inner[0] if len(inner) == 1 else str, default)
    if tp is tuple or origin is tuple or (tp is None and isinstance(default, tuple)):
        if args and args[-1] is not Ellipsis:  # tuple[int, float]: one value per position
            positional: list | None = list(args)
            elem = None
        else:  # tuple[float, ...], or a bare tuple typed from the default's elements
            positional = None
            floats = any(isinstance(v, float) for v in default or ())
            elem = args[0] if args else float if floats else type(default[0]) if default else str
        nested = any(a is tuple or typing.get_origin(a) is tuple for a in (positional or [elem]))
        parts = [p.strip() for p in text.split(";" if nested else ",") if p.strip()]
        if positional is not None and len(parts) != len(positional):
            raise ValueError(f"expected {len(positional)} values; got {len(parts)}")
        return tuple(_parse_as(p, t, None) for p, t in zip(parts, positional or [elem] * len(parts)))
    if tp is None:
        tp = type(default) if default is not None else str
    if tp is bool:
        low = text.strip().lower()
        if low not in _TRUE + _FALSE:
            raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")
        return low in _TRUE
    if tp is int:
        try:
            return int(text)
        except ValueError:
            f = float(text)
            if not f.is_integer():
                raise
            return int(f)
    if tp is float:
        return float(text)
    if tp is str:
        return text
    raise ValueError(f"cannot parse a value of type {tp} from the command line")


def parse_overrides(config_cls: type, items: Sequence[str] | None) -> dict[str, Any]:
    """Parse ``["field=value", ...]`` into typed ``Config`` field values.

    The type comes from the field's annotation (or its default): ``int``,
    ``float``, ``bool`` (``true``/``false``/``1``/``0``), ``str``, tuples as
    ``1,2,3`` (tuples of pairs as ``0.2,0.1;1,0.4``). Raises
    :class:`ConfigOverrideError` naming the field, what was expected and what
    arrived, with the list of fields.

    Args:
      config_cls: the experiment's ``Config`` dataclass.
      items: ``field=value`` strings, or ``None``.

    Example:
      >>> import dataclasses
      >>> @dataclasses.dataclass(frozen=True)
      ... class Config:
      ...     n: tuple[int, ...] = (10, 20)
      ...     rate: float = 0.1
      >>> parse_overrides(Config, ["n=1,2,3", "rate=0.5"])
      {'n': (1, 2, 3), 'rate': 0.5}
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # an annotation that does not evaluate: fall back on the defaults' types
        hints = {}
    listing = ", ".join(f"{n}={_default(f)!r}" for n, f in fields.items())
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigOverrideError(f"--set expects FIELD=VALUE; got {item!r}. Fields: {listing}")
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigOverrideError(f"--set {item!r}: Config has no field {name!r}.{hint} Fields: {listing}")
        default = _default(fields[name])
        tp = hints.get(name)
        try:
            out[name] = _parse_as(text, tp, default)
        except (ValueError, TypeError, IndexError) as e:
            want = type(default).__name__ if tp is None else tp.__name__ if isinstance(tp, type) else str(tp)
            raise ConfigOverrideError(
                f"--set {item!r}: field {name!r} expects {want} (default {default!r}); got {text!r} ({e}). "
                f"Fields: {listing}"
            ) from None
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
