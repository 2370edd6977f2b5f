r"""Theory checks: a claim, a prediction, a measurement and a tolerance with a reason.

A :class:`Check` is a plain frozen record. Build it with :func:`check`, which
evaluates whether it passed from the comparison ``kind`` (with $m$ = ``measured``, $p$ = ``predicted``,
$\tau$ = ``tolerance``):

| kind | passes when |
|---|---|
| ``abs`` | $\lvert m - p\rvert \le \tau$ |
| ``rel`` | $\lvert m - p\rvert \le \tau \lvert p\rvert$ |
| ``zscore`` | $\lvert m - p\rvert \le \tau\, \mathrm{se}$ (Monte Carlo; ``stderr`` required) |
| ``slope`` | a fitted log-log slope: $\lvert m - p\rvert \le \tau$ |
| ``bound`` | an inequality: $m \le p + \tau$ (``direction="upper"``) or $m \ge p - \tau$ (``direction="lower"``) |

``predicted`` and ``measured`` may be arrays (broadcast); the check passes when
every element does, and the table shows the worst element. Every tolerance
carries a one-line ``reason`` (dtype, conditioning, Monte Carlo error) -- never
"what made it pass".

Write checks with the vocabulary: ``c = Checks(PAPER)``, then
``c.close``, ``c.upper_bound``, ``c.lower_bound``, ``c.within_se``,
``c.slope``, ``c.loglog_slope``, ``c.holds``; each takes the claim, the
``origin`` of the claim -- :func:`paper` (a statement of the paper, with version
and location), :func:`derived` (our derivation; names the docstring that
derives it), :func:`hypothesis` (a model we chose where the paper's text was not
available), :func:`law` (a textbook identity) -- and ``why``, the reason for the
tolerance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kl_lab import stats

__all__ = [
    "Check",
    "Checks",
    "Origin",
    "ORIGINS",
    "check",
    "paper",
    "derived",
    "hypothesis",
    "law",
    "format_table",
    "assert_checks",
    "KINDS",
]

KINDS = ("abs", "rel", "zscore", "slope", "bound")


@dataclasses.dataclass(frozen=True)
class Check:
    """One theory-vs-simulation comparison (see module docstring for the kinds).

    Example:
      >>> c = check("mean", claim="E X = 1", source="law", kind="abs", predicted=1.0, measured=1.05,
      ...           tolerance=0.1, reason="Monte Carlo error")
      >>> c.passed, c.to_json()["kind"]
      (True, 'abs')
    """

    name: str  #: the check's name, unique within its experiment
    claim: str
    source: str
    kind: str
    predicted: Any
    measured: Any
    tolerance: float
    reason: str
    passed: bool
    stderr: Any = None  #: standard error of ``measured`` (``zscore`` checks), or None
    direction: str = "upper"  #: ``"upper"`` or ``"lower"``: which side a bound check bounds
    worst: float = 0.0  #: the worst deviation in the units the kind compares in
    origin: str = "unspecified"  #: one of ORIGINS: whose claim this is
    origin_detail: str = ""  #: where: paper location, deriving docstring, chosen model, or the law
    resolution: float = math.nan  #: smallest relative change of the prediction that fails it (see resolution())
    alternatives: Any = None  #: competing predictions the measurement must exclude (the claim's distinction)

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
    origin: str = "unspecified",
    origin_detail: str = "",
    alternatives: Any = None,
) -> Check:
    """Build a :class:`Check`, computing ``passed`` and the worst deviation.

    Raises ``ValueError`` for an unknown ``kind``, a ``zscore`` check without
    ``stderr``, a negative or NaN tolerance, an empty ``reason`` or an unknown
    ``origin``. Prefer the verbs of :class:`Checks`, which fill in ``source``,
    ``origin`` and the mechanical parts of the reason.

    Args:
      name: the check's name, unique within its experiment.
      claim: the statement tested, in words.
      source: where it comes from (a citation).
      kind: one of :data:`KINDS` (how ``predicted`` and ``measured`` are compared).
      predicted: the theory's value(s) (scalar or array).
      measured: the simulation's value(s), broadcasting against ``predicted``.
      tolerance: the allowed deviation (``>= 0``) in the units of ``kind``.
      reason: where the tolerance comes from (non-empty).
      stderr: standard error(s) of ``measured`` (required by ``zscore``).
      direction: ``'upper'`` or ``'lower'``: the side a bound check bounds.
      origin: one of :data:`ORIGINS`: whose claim it is.
      origin_detail: where: the paper's location, the deriving docstring, the chosen model or the law.
      alternatives: competing predictions the measurement must exclude, or ``None``.

    Example:
      >>> c = check("se", claim="E X = 0", source="law", kind="zscore", predicted=0.0, measured=[0.1, -0.2],
      ...           stderr=0.1, tolerance=3.0, reason="3 standard errors")
      >>> c.passed, round(c.worst, 6)  # the worst point is 2 standard errors away
      (True, 2.0)
    """
    if origin not in ORIGINS + ("unspecified",):
        raise ValueError(f"origin must be one of {ORIGINS}; got {origin!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if not (tolerance >= 0):
        raise ValueError(f"tolerance must be >= 0; got {tolerance!r}")
    if not reason:
        raise ValueError("reason must say where the tolerance comes from; got an empty string")
    if direction not in ("upper", "lower"):
        raise ValueError(f"direction must be 'upper' or 'lower'; got {direction!r}")
    if kind == "zscore" and stderr is None:
        raise ValueError(f"check {name!r}: kind 'zscore' needs stderr; got None")
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    se = None if stderr is None else np.asarray(stderr, dtype=float)
    dev = _deviation(kind, p, m, se, direction)
    ok = (dev <= tolerance) & ~np.isnan(dev)
    worst = float("nan") if np.any(np.isnan(dev)) else float(np.max(dev)) if np.size(dev) else 0.0
    passed = bool(np.all(ok))
    res = resolution(kind, p, m, float(tolerance), se, direction) if passed else 0.0
    if passed and math.isinf(res):
        passed = False  # a check no change of the prediction can fail is an error, not a pass
        reason += " [FAILS: cannot fail -- no change of the prediction makes it fail]"
    if alternatives is not None:
        indistinct = []
        for alt in np.atleast_1d(np.asarray(alternatives, dtype=float)):
            d_alt = _deviation(kind, np.broadcast_to(alt, np.shape(p)) if np.ndim(p) else alt, m, se, direction)
            if bool(np.all((d_alt <= tolerance) & ~np.isnan(d_alt))):
                indistinct.append(float(alt))
        if indistinct:
            passed = False
            reason += f" [FAILS: the measurement cannot tell the prediction from the alternative(s) {indistinct}]"
    return Check(
        name=name,
        claim=claim,
        source=source,
        kind=kind,
        predicted=predicted,
        measured=measured,
        tolerance=float(tolerance),
        reason=reason,
        passed=passed,
        stderr=stderr,
        direction=direction,
        worst=worst,
        origin=origin,
        origin_detail=origin_detail,
        resolution=res,
        alternatives=None if alternatives is None else _jsonable(alternatives),
    )


def _deviation(kind: str, p: np.ndarray, m: np.ndarray, se: np.ndarray | None, direction: str) -> np.ndarray:
    """The deviation each kind compares with the tolerance (NaN never passes)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("abs", "slope"):
            return np.abs(m - p)
        if kind == "rel":
            return np.where(m == p, 0.0, np.abs(m - p) / np.abs(p))
        if kind == "zscore":
            return np.where(m == p, 0.0, np.abs(m - p) / se)
        dev = (m - p) if direction == "upper" else (p - m)
        return np.where(m == p, 0.0, dev)  # inf == inf satisfies a bound


def resolution(
    kind: str, predicted: Any, measured: Any, tolerance: float, stderr: Any = None, direction: str = "upper"
) -> float:
    """The smallest relative change of the prediction that would make a passing check fail.

    The prediction ``p`` is moved to ``p + delta * scale`` in one direction for every point at once, with
    ``scale = |p|`` (a relative change; for a slope, of the claimed exponent) and, where ``p == 0``, the
    largest finite ``|measured|`` (or the tolerance, or 1). The result is the smallest ``|delta|``, either
    sign, that fails the check, found by a scan over ``1e-12 .. 1e6`` and bisection to ~0.1 %: ``0.03``
    reads "resolves +-3 %". ``inf`` means no change of the prediction can make the check fail -- a check
    that cannot fail. Infinite predictions are not moved.
    """
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    se = None if stderr is None else np.asarray(stderr, dtype=float)
    fin_m = np.abs(m[np.isfinite(m)]) if m.size else np.zeros(0)
    ref = float(fin_m.max()) if fin_m.size and fin_m.max() > 0 else (tolerance if tolerance > 0 else 1.0)
    scale = np.where(np.isfinite(p), np.where(p != 0, np.abs(p), ref), 0.0)

    def fails(delta: float) -> bool:
        dev = _deviation(kind, p + delta * scale, m, se, direction)
        return not bool(np.all((dev <= tolerance) & ~np.isnan(dev)))

    best = math.inf
    grid = np.logspace(-12, 6, 73)
    for sign in (1.0, -1.0):
        lo = 0.0
        for t in grid:
            if t >= best:
                break
            if fails(sign * t):
                hi = float(t)
                while hi - lo > 1e-3 * hi and hi > 1e-12:  # below the grid's floor: report <= 1e-12
                    mid = 0.5 * (lo + hi)
                    lo, hi = (lo, mid) if fails(sign * mid) else (mid, hi)
                best = min(best, hi)
                break
            lo = float(t)
    return best


def _fmt(x: Any) -> str:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        v = float(a)
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.6g}"
    return f"[{a.size} values]"


def _fmt_resolution(r: float) -> str:
    if math.isnan(r) or r == 0:
        return "-"
    if math.isinf(r):
        return "cannot fail"
    return f"±{100 * r:.2g}%"


def format_table(checks: Sequence[Check] | Iterable[tuple[str, Check]]) -> str:
    """A fixed-width table: experiment, check, kind, predicted, measured, tolerance, worst, pass.

    Args:
      checks: checks, or ``(experiment, check)`` pairs.

    Example:
      >>> c = check("x", claim="x = 1", source="law", kind="abs", predicted=1.0, measured=1.0, tolerance=0.0,
      ...           reason="exact")
      >>> format_table([c]).splitlines()[-1]
      '1 passed, 0 failed'
    """
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
                _fmt_resolution(getattr(c, "resolution", math.nan)),
                getattr(c, "origin", "unspecified"),
                "PASS" if c.passed else "FAIL",
            )
        )
    head = (
        "experiment",
        "check",
        "kind",
        "predicted",
        "measured",
        "tolerance",
        "worst",
        "resolves",
        "origin",
        "result",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(head), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    n_fail = sum(r[-1] == "FAIL" for r in rows)
    out.append(f"{len(rows) - n_fail} passed, {n_fail} failed")
    return "\n".join(out)


def assert_checks(checks: Sequence[Check]) -> None:
    """Raise ``AssertionError`` with the table and each failure's claim and reason.

    Args:
      checks: the experiment's :class:`Check` list.

    Example:
      >>> c = check("x", claim="x = 1", source="law", kind="abs", predicted=1.0, measured=2.0, tolerance=0.5,
      ...           reason="rounding")
      >>> try:
      ...     assert_checks([c])
      ... except AssertionError as e:
      ...     print(str(e).splitlines()[1])
      - x: x = 1 (predicted 1, measured 2, tolerance 0.5: rounding)
    """
    failed = [c for c in checks if not c.passed]
    if failed:
        detail = "\n".join(
            f"- {c.name}: {c.claim} (predicted {_fmt(c.predicted)}, measured {_fmt(c.measured)}, "
            f"tolerance {c.tolerance:g}: {c.reason})"
            for c in failed
        )
        raise AssertionError(f"{len(failed)} theory check(s) failed:\n{detail}\n\n{format_table(checks)}")


# --------------------------------------------------------------------------
# whose claim it is
# --------------------------------------------------------------------------
#: the four origins of a check (DESIGN.md, "Checks")
ORIGINS = ("paper", "derived", "hypothesis", "law")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Whose claim a check tests, and where it is stated.

    ``kind`` is one of :data:`ORIGINS`; ``where`` is, for ``paper``, the location in the paper with its
    version ("Thm 3.1 (v3)"); for ``derived``, the docstring or module holding our derivation; for
    ``hypothesis``, the model we chose and why; for ``law``, the textbook identity.

    Example:
      >>> Origin("law", "Pinsker").kind
      'law'
    """

    kind: str
    where: str
    of: Any = None  # for a ``paper`` origin: another paper than the experiment's (a ``Paper``), if any

    def __post_init__(self):
        if self.kind not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}; got {self.kind!r}")
        if not self.where:
            raise ValueError(f"a {self.kind!r} origin must say where (location, docstring, model or law); got ''")


def paper(where: str, of: Any = None) -> Origin:
    """A statement of the paper itself, at ``where`` (e.g. ``"Thm 3.1 (v3)"``).

    ``of``: the :class:`kl_lab.experiment.Paper` that states it, when it is not the experiment's own
    ``PAPER`` (an experiment that tests several papers' claims cites each one).

    Example:
      >>> paper("Thm 3.1 (v3)")
      Origin(kind='paper', where='Thm 3.1 (v3)', of=None)
    """
    return Origin("paper", where, of)


def derived(where: str) -> Origin:
    """Our derivation from the paper's setting; ``where`` names the docstring or module that derives it.

    Example:
      >>> derived("kl_lab.pn_criterion.expansion").kind
      'derived'
    """
    return Origin("derived", where)


def hypothesis(which: str) -> Origin:
    """A model we chose where the paper's text was not available; ``which`` says which model and why.

    Example:
      >>> hypothesis("Gaussian rollout model: the paper's text was not available").kind
      'hypothesis'
    """
    return Origin("hypothesis", which)


def law(name: str) -> Origin:
    """A textbook identity or inequality (Pinsker, data processing, Stein's lemma...).

    Args:
      name: the law's name (e.g. ``'Pinsker'``).

    Example:
      >>> law("data processing").where
      'data processing'
    """
    return Origin("law", name)


class Checks(list):
    """The theory checks of one experiment, bound to its paper: a list of :class:`Check` with verbs.

    Each verb builds a check, appends it and returns it; ``checks()`` in an experiment ends with
    ``return c``. Every verb takes ``claim`` (the sentence tested), ``origin`` (a :class:`Origin` from
    :func:`paper`, :func:`derived`, :func:`hypothesis` or :func:`law`; default: the one given to the
    constructor) and ``why`` (the one-line reason for the tolerance). ``close``, ``within_se``, ``slope``
    and ``loglog_slope`` also take ``alternatives``: competing predictions (e.g. the other candidate
    exponents) that the measurement must exclude under the same tolerance; if one of them would pass too,
    the check fails -- its resolution is coarser than the distinction the claim makes.

    Examples:
      >>> from kl_lab.experiment import Paper
      >>> c = Checks(Paper("Tsybakov", 2009, "none (book)"))
      >>> _ = c.upper_bound("pinsker", 0.1, 0.2, claim="TV <= sqrt(KL/2)", origin=law("Pinsker"))
      >>> _ = c.close("mean", 1.0, 1.001, rtol=0.01, claim="E[X] = 1", origin=paper("Eq. (2)"),
      ...             why="1% model error")
      >>> [(x.name, x.kind, x.origin, x.passed) for x in c]
      [('pinsker', 'bound', 'law', True), ('mean', 'rel', 'paper', True)]
    """

    def __init__(self, paper: Any, *, origin: Origin | None = None):
        super().__init__()
        self.paper = paper
        self.origin = origin

    # -- helpers -----------------------------------------------------------
    def _source(self, origin: Origin | None) -> tuple[Origin, str]:
        origin = origin or self.origin
        if origin is None:
            raise ValueError("every check needs an origin: paper(...), derived(...), hypothesis(...) or law(...)")
        if not isinstance(origin, Origin):
            raise TypeError(f"origin must be an Origin (kl_lab.checks.paper/derived/hypothesis/law); got {origin!r}")
        p = origin.of if origin.of is not None else self.paper
        cite = f"{p.authors} ({p.year}), arXiv:{p.arxiv}" if p is not None else ""
        if origin.kind == "paper":
            src = f"{cite}, {origin.where}"
        elif origin.kind == "derived":
            src = f"derived: {origin.where}" + (f" (setting of {cite})" if cite else "")
        else:
            src = f"{origin.kind}: {origin.where}"
        return origin, src

    def _add(self, name, *, claim, origin, **kw) -> Check:
        origin, src = self._source(origin)
        c = check(name, claim=claim, source=src, origin=origin.kind, origin_detail=origin.where, **kw)
        self.append(c)
        return c

    # -- verbs --------------------------------------------------------------
    def close(
        self,
        name: str,
        predicted: Any,
        measured: Any,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        why: str,
        claim: str,
        origin: Origin | None = None,
        alternatives: Any = None,
    ) -> Check:
        r"""``measured`` equals ``predicted`` within ``rtol`` (relative to $|p|$) or ``atol``.

        Kind ``rel``: $|m - p| \le \text{rtol}\,|p|$; kind ``abs``: $|m - p| \le \text{atol}$. Give exactly one.

        Example:
          >>> c = Checks(None, origin=law("identity"))
          >>> c.close("x", 2.0, 2.01, rtol=0.01, why="1% rounding", claim="x = 2").passed
          True
        """
        if (rtol is None) == (atol is None):
            raise ValueError(f"check {name!r}: give exactly one of rtol and atol; got rtol={rtol}, atol={atol}")
        kind, tol = ("rel", rtol) if rtol is not None else ("abs", atol)
        return self._add(
            name,
            claim=claim,
            origin=origin,
            kind=kind,
            predicted=predicted,
            measured=measured,
            tolerance=tol,
            reason=why,
            alternatives=alternatives,
        )

    def upper_bound(
        self,
        name: str,
        value: Any,
        bound: Any,
        *,
        slack: float = 0.0,
        why: str | None = None,
        claim: str,
        origin: Origin | None = None,
    ) -> Check:
        r"""$\text{value} \le \text{bound} + \text{slack}$ elementwise ($\infty \le \infty$ holds).

        Example:
          >>> c = Checks(None, origin=law("Pinsker"))
          >>> c.upper_bound("tv", 0.1, 0.2, claim="TV <= sqrt(KL/2)").passed
          True
        """
        return self._bound(name, value, bound, "upper", slack, why, claim, origin)

    def lower_bound(
        self,
        name: str,
        value: Any,
        bound: Any,
        *,
        slack: float = 0.0,
        why: str | None = None,
        claim: str,
        origin: Origin | None = None,
    ) -> Check:
        r"""$\text{value} \ge \text{bound} - \text{slack}$ elementwise.

        Example:
          >>> c = Checks(None, origin=law("Gibbs"))
          >>> c.lower_bound("kl", [0.0, 0.3], 0.0, claim="KL >= 0").passed
          True
        """
        return self._bound(name, value, bound, "lower", slack, why, claim, origin)

    def _bound(self, name, value, bound, direction, slack, why, claim, origin) -> Check:
        if why is None:
            if slack != 0:
                raise ValueError(f"check {name!r}: a slack of {slack} needs a reason (why=...)")
            why = "exact inequality: no slack"
        return self._add(
            name,
            claim=claim,
            origin=origin,
            kind="bound",
            direction=direction,
            predicted=bound,
            measured=value,
            tolerance=slack,
            reason=why,
        )

    def holds(self, name: str, condition: Any, *, why: str = "", claim: str, origin: Origin | None = None) -> Check:
        r"""Every entry of the boolean ``condition`` is true (a bound: number of false entries $\le 0$).

        Example:
          >>> c = Checks(None, origin=law("monotonicity"))
          >>> c.holds("increasing", [True, False], claim="the risk decreases").passed
          False
        """
        bad = np.size(condition) - np.count_nonzero(np.asarray(condition, dtype=bool))
        return self._add(
            name,
            claim=claim,
            origin=origin,
            kind="bound",
            predicted=0.0,
            measured=float(bad),
            tolerance=0.0,
            reason=why or "a logical statement: no tolerance",
        )

    def within_se(
        self,
        name: str,
        predicted: Any,
        measured: Any,
        se: Any,
        *,
        z: float | None = None,
        fwer: float = 1e-3,
        why: str = "",
        claim: str,
        origin: Origin | None = None,
        alternatives: Any = None,
    ) -> Check:
        r"""$|m - p| \le z\, \mathrm{se}$ at every point (a Monte Carlo comparison).

        With ``z=None`` the threshold is the Bonferroni quantile that keeps the family-wise false-alarm
        rate at ``fwer`` over the $k$ points tested, $z = \Phi^{-1}(1 - \text{fwer}/(2k))$; either way the reason
        states that rate.

        Example:
          >>> c = Checks(None, origin=law("CLT"))
          >>> ck = c.within_se("mean", 0.0, [0.1, -0.2], 0.1, claim="E X = 0")
          >>> ck.passed, round(ck.tolerance, 2)  # Bonferroni z for 2 points at fwer 1e-3
          (True, 3.48)
        """
        count = max(int(np.size(np.broadcast(np.asarray(predicted), np.asarray(measured), np.asarray(se)))), 1)
        if z is None:
            z = stats.bonferroni_z(count, fwer)
        rate = stats.false_alarm_rate(z, count)
        reason = f"z = {z:.3g} standard errors; family-wise false-alarm rate <= {rate:.2g} over {count} point(s)"
        if why:
            reason += f"; {why}"
        return self._add(
            name,
            claim=claim,
            origin=origin,
            kind="zscore",
            predicted=predicted,
            measured=measured,
            stderr=se,
            tolerance=z,
            reason=reason,
            alternatives=alternatives,
        )

    def slope(
        self,
        name: str,
        predicted: Any,
        measured: Any,
        *,
        tol: float,
        why: str,
        se: Any = None,
        claim: str,
        origin: Origin | None = None,
        alternatives: Any = None,
    ) -> Check:
        r"""A measured exponent (log-log slope) equals ``predicted`` within ``tol``: $|m - p| \le \text{tol}$.

        Example:
          >>> c = Checks(None, origin=law("CLT"))
          >>> c.slope("rate", -0.5, -0.48, tol=0.05, why="fit error", claim="se ~ n^-1/2").passed
          True
        """
        return self._add(
            name,
            claim=claim,
            origin=origin,
            kind="slope",
            predicted=predicted,
            measured=measured,
            stderr=se,
            tolerance=tol,
            reason=why,
            alternatives=alternatives,
        )

    def loglog_slope(
        self,
        name: str,
        x: Any,
        y: Any,
        predicted: float,
        *,
        tol: float | None = None,
        z: float = 3.0,
        why: str = "",
        claim: str,
        origin: Origin | None = None,
        alternatives: Any = None,
    ) -> Check:
        r"""Fit $\log y = s \log x + b$ (:func:`kl_lab.stats.loglog_slope`) and compare the slope $s$.

        The tolerance is ``tol`` if given, else ``z`` standard errors of the fitted slope.

        Example:
          >>> c = Checks(None, origin=derived("C1/n"))
          >>> x = np.array([10.0, 100.0, 1000.0])
          >>> c.loglog_slope("rate", x, 0.5 / x, -1.0, tol=1e-9, why="exact power law", claim="R ~ 1/n").passed
          True
        """
        fit = stats.loglog_slope(x, y)
        if tol is None:
            tol = z * fit.stderr
            reason = f"{z:g} standard errors of the least-squares slope ({np.size(x)} points)"
        else:
            reason = why
            why = ""
        if why:
            reason += f"; {why}"
        return self.slope(
            name,
            predicted,
            fit.slope,
            tol=tol,
            se=fit.stderr,
            why=reason,
            claim=claim,
            origin=origin,
            alternatives=alternatives,
        )
