"""Theory checks: a claim, a prediction, a measurement and a tolerance with a reason.

A :class:`Check` is a plain frozen record. Build it with :func:`check`, which
evaluates whether it passed from the comparison ``kind``:

``abs``     ``|measured - predicted| <= tolerance``
``rel``     ``|measured - predicted| <= tolerance * |predicted|``
``zscore``  ``|measured - predicted| <= tolerance * stderr`` (Monte Carlo; ``stderr`` required)
``slope``   a fitted log-log slope: ``|measured - predicted| <= tolerance``
``bound``   an inequality: ``measured <= predicted + tolerance`` (``direction="upper"``)
            or ``measured >= predicted - tolerance`` (``direction="lower"``)

``predicted`` and ``measured`` may be arrays (broadcast); the check passes when
every element does, and the table shows the worst element. Every tolerance
carries a one-line ``reason`` (dtype, conditioning, Monte Carlo error) -- never
"what made it pass".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["Check", "check", "format_table", "assert_checks", "KINDS"]

KINDS = ("abs", "rel", "zscore", "slope", "bound")


@dataclasses.dataclass(frozen=True)
class Check:
    """One theory-vs-simulation comparison (see module docstring for the kinds)."""

    name: str
    claim: str
    source: str
    kind: str
    predicted: Any
    measured: Any
    tolerance: float
    reason: str
    passed: bool
    stderr: Any = None
    direction: str = "upper"
    worst: float = 0.0  # the worst deviation in the units the kind compares in

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("predicted", "measured", "stderr"):
            d[k] = _jsonable(d[k])
        d["passed"] = bool(self.passed)
        return d


def _jsonable(x: Any) -> Any:
    if x is None:
        return None
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else a.tolist()


def check(
    name: str,
    *,
    claim: str,
    source: str,
    kind: str,
    predicted: Any,
    measured: Any,
    tolerance: float,
    reason: str,
    stderr: Any = None,
    direction: str = "upper",
) -> Check:
    """Build a :class:`Check`, computing ``passed`` and the worst deviation.

    Raises ``ValueError`` for an unknown ``kind``, a ``zscore`` check without
    ``stderr``, a negative or NaN tolerance, or an empty ``reason``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if not (tolerance >= 0):
        raise ValueError(f"tolerance must be >= 0; got {tolerance!r}")
    if not reason:
        raise ValueError("reason must say where the tolerance comes from; got an empty string")
    if direction not in ("upper", "lower"):
        raise ValueError(f"direction must be 'upper' or 'lower'; got {direction!r}")
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("abs", "slope"):
            dev = np.abs(m - p)
            ok = dev <= tolerance
        elif kind == "rel":
            dev = np.abs(m - p) / np.abs(p)
            dev = np.where((m == p), 0.0, dev)
            ok = dev <= tolerance
        elif kind == "zscore":
            if stderr is None:
                raise ValueError(f"check {name!r}: kind 'zscore' needs stderr; got None")
            se = np.asarray(stderr, dtype=float)
            dev = np.abs(m - p) / se
            dev = np.where((m == p), 0.0, dev)
            ok = dev <= tolerance
        else:  # bound
            dev = (m - p) if direction == "upper" else (p - m)
            dev = np.where((m == p), 0.0, dev)  # inf == inf satisfies a bound
            ok = dev <= tolerance
    ok = np.asarray(ok) & ~np.isnan(dev)
    worst = float("nan") if np.any(np.isnan(dev)) else float(np.max(dev)) if np.size(dev) else 0.0
    return Check(
        name=name,
        claim=claim,
        source=source,
        kind=kind,
        predicted=predicted,
        measured=measured,
        tolerance=float(tolerance),
        reason=reason,
        passed=bool(np.all(ok)),
        stderr=stderr,
        direction=direction,
        worst=worst,
    )


def _fmt(x: Any) -> str:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        v = float(a)
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.6g}"
    return f"[{a.size} values]"


def format_table(checks: Sequence[Check] | Iterable[tuple[str, Check]]) -> str:
    """A fixed-width table: experiment, check, kind, predicted, measured, tolerance, worst, pass."""
    rows = []
    for item in checks:
        exp, c = item if isinstance(item, tuple) else ("", item)
        tol = f"{c.tolerance:.3g}" + (" se" if c.kind == "zscore" else " rel" if c.kind == "rel" else "")
        rows.append(
            (
                exp,
                c.name,
                c.kind,
                _fmt(c.predicted),
                _fmt(c.measured),
                tol,
                f"{c.worst:.3g}",
                "PASS" if c.passed else "FAIL",
            )
        )
    head = ("experiment", "check", "kind", "predicted", "measured", "tolerance", "worst", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(head), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    n_fail = sum(r[-1] == "FAIL" for r in rows)
    out.append(f"{len(rows) - n_fail} passed, {n_fail} failed")
    return "\n".join(out)


def assert_checks(checks: Sequence[Check]) -> None:
    """Raise ``AssertionError`` with the table and each failure's claim and reason."""
    failed = [c for c in checks if not c.passed]
    if failed:
        detail = "\n".join(
            f"- {c.name}: {c.claim} (predicted {_fmt(c.predicted)}, measured {_fmt(c.measured)}, "
            f"tolerance {c.tolerance:g}: {c.reason})"
            for c in failed
        )
        raise AssertionError(f"{len(failed)} theory check(s) failed:\n{detail}\n\n{format_table(checks)}")
