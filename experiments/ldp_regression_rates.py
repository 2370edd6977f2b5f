"""l2 error of LDP sparse regression against n, epsilon, d and k (Zhu, Ding, Aggarwal, Xu, Wang 2024).

Three estimators of :mod:`kl_lab.privacy.regression` on the same data: the non-interactive one
(NLDP; private ``x x^T`` and ``x y``), the same with public unlabelled covariates (PUB; ``n/4``
of them), and sequentially interactive LDP-IHT (INT). Each point is ``trials`` Monte Carlo
repetitions (fresh data, parameter support and privacy noise), vmapped through
:func:`kl_lab.sweep.sweep`.

**Regime.** The privacy noise per entry is huge (``sigma_1 ~ d tau_1^2 sqrt(log 1/delta)/eps``),
so the rates only show once ``n >~ d^3 / eps^2`` (the aggregated covariance noise must be
below ``lambda_min(Sigma) = 1``; the paper's reviews quote ``n >~ d^4``). We therefore use a
bounded design (Rademacher coordinates: ``tau_1 = 1`` exactly, no clipping bias), small d,
``n`` in the millions and moderate epsilon; the sub-Gaussian clip for y is the library default
``tau_2 = sqrt(||theta*||^2 + noise^2) sqrt(2 log n)``. The figure's solid lines are the
implementation's own first-order noise calculus (:func:`kl_lab.privacy.rates.nldp_coordinate_std`,
:func:`~kl_lab.privacy.rates.iht_coordinate_std`, times ``E||N(0, I_k)||``), dashed lines the paper's
rates (constants fitted to the last point).

**What the checks test.** (1) The fitted slope of each estimator agrees with the local slope of
its noise calculus over the same grid, within 3 bootstrap standard errors -- this is the
"predicted power", and it differs from the paper's power where lower-order terms matter:
``sqrt(log n)`` in ``tau_2`` and ``log n`` iterations of IHT make the n-slope ~-0.45, the
analytic Gaussian calibration makes ``sigma`` fall like ``eps^-0.9`` at eps ~ 1 (``eps^-1/2`` as eps -> inf),
``E||N(0,I_k)|| ~ sqrt(k - 1/2)`` steepens the k-slope at small k, and for NLDP the ``x y`` release
(``Delta_2 = 2 sqrt(d) tau_1 tau_2``) dominates the ``x x^T`` one (``Delta_1 ~ d tau_1^2``) until
``d >~ 4 tau_2^2 / (tau_1 ||theta*||)^2 ~ 100``, so its d-slope is ~0.55 here and reaches the paper's 1
only beyond. At full size each slope must also exclude the competing powers (``alternatives``:
n^-1/3 and n^-2/3; eps powers +-1/2 away; d^1 vs d^1/2 and k^1 vs k^1/2, the powers that tell the
estimators apart, except NLDP's d^1/2 -- at d <= 16 NLDP's d-slope is itself ~0.53): each trial
averages ``replicates`` privatizations of its data set, which is what makes the bands narrow enough.
Not resolved at full size (reported, not hidden): the interactive estimator's n-slope (calculus -0.43,
measured -0.40 +- 0.034) against n^-1/3 -- that check excludes n^-2/3 only.
The quick preset runs the eps panel only (one compiled shape) and states only the agreement.
(2) The regime is reached: the support is recovered in >= 90%
of trials at every point.

Dropped (issue 21): the former ``*_asymptotic_power`` checks compared the calculus with the paper's power at
n = 1e100 -- a formula against a formula, not a measurement; the calculus' limits are unit-tested in
tests/privacy. The former ``*_not_below_lower_rate`` checks compared a local slope with a minimax lower
bound's power: a lower bound constrains the error level (with unknown constants), not its local slope,
so no measured slope can test it; without the constants there is nothing meaningful to check here.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import cli, experiment, plotting, stats
from kl_lab import privacy as P
from kl_lab.checks import Checks, derived
from kl_lab.sweep import grid, sweep

TITLE = "LDP sparse linear regression: error rates in n, epsilon, d and k"
PAPER = experiment.Paper(
    authors="Zhu, Ding, Aggarwal, Xu, Wang",
    year=2024,
    arxiv="2310.07367",
    where="abstract (rates); Algorithm 1 reconstructed, papers/core-papers-math.md Sec. 4",
)
CLAIM = (
    "NLDP error ~ d sqrt(k)/(sqrt(n) eps), with public covariates sqrt(dk)/(sqrt(n) eps), "
    "interactive LDP-IHT k sqrt(d)/(sqrt(n) eps); measured slopes match each estimator's noise calculus."
)
RUNTIME = "10 min"  # estimated on 2 idle cores (24 trials x 8 privatizations per point)

ESTIMATORS = ("nldp", "public", "interactive")
LABELS = {"nldp": "non-interactive", "public": "with public x", "interactive": "interactive IHT"}
PAPER_RATE = {"nldp": "nldp_upper", "public": "public_upper", "interactive": "interactive_upper"}
IHT_RADIUS = 2.0  # ||theta*|| = 1: the l2-ball projection of IHT is inactive near theta*


@dataclasses.dataclass(frozen=True)
class Config:
    """Each panel varies one of (n, eps, d, k) around the base point. Points sharing (n, d, k) share one
    compiled sweep (eps is traced), so the cost is one compilation per distinct shape."""

    trials: int = 24
    replicates: int = 8  # privatizations of each trial's data set, averaged (_trial): 192 draws per point
    delta: float = 1e-6
    noise_std: float = 0.1
    base: tuple[int, float, int, int] = (1_000_000, 8.0, 8, 1)  # (n, eps, d, k)
    n_grid: tuple[int, ...] = (250_000, 500_000, 1_000_000, 2_000_000)
    eps_grid: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)
    d_grid: tuple[int, ...] = (4, 8, 16)
    k_grid: tuple[int, ...] = (1, 2, 4)
    resolve: bool = True  # the slope checks must exclude the competing powers (_alternatives); off in quick
    rows_per_chunk: int = 2**23  # trials per sweep chunk = rows_per_chunk // (n d): bounds the memory
    n_boot: int = 2000
    axes: tuple[str, ...] = ("n", "eps", "d", "k")  # the panels; each distinct (n, d, k) is one compilation

    @classmethod
    def quick(cls) -> Config:
        """One panel (eps), hence one compiled shape (~10 s of the former ~50 s was each compilation)."""
        return cls(
            trials=10,
            replicates=1,
            base=(300_000, 8.0, 8, 1),
            eps_grid=(4.0, 16.0),
            n_boot=1000,
            resolve=False,
            axes=("eps",),
        )


def _trial(p, *, n, d, k, delta, noise_std, replicates):
    """One data set and ``replicates`` independent privatizations of it by each estimator (errors averaged).

    The privacy noise dominates the error (the sampling error is ``sigma_2 / noise_std`` times smaller,
    kl_lab.privacy.rates), and re-privatizing costs O(d^2) (NLDP) or O(n d) (IHT) against the O(n d^2) of
    the data: averaging the replicates is the cheap way to sharpen each trial. Trials stay independent.
    """
    k_data, k_pub, k1, k2, k3 = jax.random.split(p["key"], 5)
    data = P.make_sparse_regression(k_data, n, d, k, noise_std=noise_std, design="rademacher")
    public_x = P.make_design(k_pub, n // 4, d, "rademacher")
    y_scale = math.sqrt(1.0 + noise_std**2)
    common = dict(tau1=1.0, y_scale=y_scale)
    fits = {
        "nldp": lambda kk: P.nldp_topk_refit_regression(kk, data.x, data.y, p["eps"], delta, k, **common),
        "public": lambda kk: P.nldp_topk_refit_regression(
            kk, data.x, data.y, p["eps"], delta, k, public_x=public_x, **common
        ),
        "interactive": lambda kk: P.ldp_iht_regression(
            kk, data.x, data.y, p["eps"], delta, k, theta_norm=IHT_RADIUS, **common
        ),
    }
    truth = data.theta != 0
    out = {}
    for (name, fit), kk in zip(fits.items(), (k1, k2, k3)):
        # the data-only products are not batched; one replicate needs no vmap (a cheaper compilation)
        r = (
            jax.vmap(fit)(jax.random.split(kk, replicates))
            if replicates > 1
            else jax.tree.map(lambda a: a[None], fit(kk))
        )
        err = jnp.linalg.norm(r.theta - data.theta[None, :], axis=-1)
        out[name] = {"error": err.mean(), "support_ok": jnp.all(r.support == truth[None, :], axis=-1).mean()}
    return out


def _shape_sweep(config, key, *, n, d, k, eps_values, name):
    """All trials at every eps in ``eps_values`` for one static (n, d, k): one compilation."""
    eps_values = np.asarray(eps_values, float)
    pts = grid(eps=eps_values, trial=np.arange(config.trials))
    keys = jax.random.split(key, pts["eps"].shape[0])
    chunk = max(1, config.rows_per_chunk // (n * d))
    fn = lambda p: _trial(  # noqa: E731
        p, n=n, d=d, k=k, delta=config.delta, noise_std=config.noise_std, replicates=config.replicates
    )
    out = sweep(fn, {"key": keys, "eps": pts["eps"]}, chunk_size=chunk, name=name)
    return jax.tree_util.tree_map(lambda a: a.reshape(len(eps_values), config.trials), out)


AXES = ("n", "eps", "d", "k")


def _axis_values(axis, config):
    return np.asarray(getattr(config, f"{axis}_grid"), float)


def _point_params(axis, config):
    """The (n, eps, d, k) of every point of a panel: the base point with one coordinate varied."""
    n0, e0, d0, k0 = config.base
    cast = float if axis == "eps" else int
    return [dict(dict(n=n0, eps=e0, d=d0, k=k0), **{axis: cast(v)}) for v in _axis_values(axis, config)]


def run(config: Config, key: jax.Array) -> dict:
    points = [(axis, i, p) for axis in config.axes for i, p in enumerate(_point_params(axis, config))]
    shapes = sorted({(p["n"], p["d"], p["k"]) for _, _, p in points})
    out = {axis: {e: {"error": {}, "support_ok": {}} for e in ESTIMATORS} for axis in config.axes}
    for si, (n, d, k) in enumerate(shapes):
        mine = [(axis, i, p) for axis, i, p in points if (p["n"], p["d"], p["k"]) == (n, d, k)]
        eps_values = sorted({p["eps"] for _, _, p in mine})
        res = _shape_sweep(
            config, jax.random.fold_in(key, si), n=n, d=d, k=k, eps_values=eps_values, name=f"n{n}_d{d}_k{k}"
        )
        for axis, i, p in mine:
            j = eps_values.index(p["eps"])
            for e in ESTIMATORS:
                for f in ("error", "support_ok"):
                    out[axis][e][f][i] = res[e][f][j]
    return {
        axis: {e: {f: np.stack([v[i] for i in sorted(v)]) for f, v in per_e.items()} for e, per_e in per.items()}
        for axis, per in out.items()
    }


def predicted_error(estimator, n, d, k, eps, config, delta=None):
    """First-order l2 error of an estimator: its coordinate noise std times E||N(0, I_k)||."""
    delta = config.delta if delta is None else delta
    clip_y = math.sqrt(1.0 + config.noise_std**2) * math.sqrt(2 * math.log(n))
    if estimator == "interactive":
        iters = max(1, math.ceil(math.log2(IHT_RADIUS * math.sqrt(n))))
        s = P.iht_coordinate_std(n, d, eps, delta, 1.0, clip_y, math.sqrt(k), iters)
    else:
        s = P.nldp_coordinate_std(n, d, eps, delta, 1.0, clip_y, 1.0, public=estimator == "public")
    return float(s * P.chi_mean(k))


#: competing powers each measured slope must exclude (Config.resolve). On n: the neighbouring rates n^-1/3
#: and n^-2/3; on eps: half a power either side (every estimator has eps^-1 in the abstract). On d and k: the
#: powers that tell the estimators apart in the abstract -- the other estimators' powers that differ from this
#: one's own (d^1 NLDP vs d^1/2 the others; k^1 interactive vs k^1/2 the others) -- except where that power is
#: within 0.15 of this estimator's own calculus slope over the grid: NLDP's d-slope is ~0.53 at d <= 16
#: (module docstring (1)), so at these d it cannot be told from the others' d^1/2, and we do not claim it.
MIN_DISTINCTION = 0.15


def _alternatives(axis, est, predicted):
    if axis == "n":
        # interactive: the log n IHT iterations bring its local n-slope to -0.43, 0.1 from n^-1/3; the full-size
        # run (24 x 8 draws per point) measured -0.40 +- 0.034, which cannot exclude n^-1/3 (it would need ~5x
        # the draws) -- not claimed; see the module docstring
        return [-2 / 3] if est == "interactive" else [-1 / 3, -2 / 3]
    if axis == "eps":
        return [predicted - 0.5, predicted + 0.5]
    own = P.POWERS[PAPER_RATE[est]][axis]
    others = {P.POWERS[PAPER_RATE[e]][axis] for e in ESTIMATORS} - {own}
    return [a for a in sorted(others) if abs(a - predicted) > MIN_DISTINCTION]


def checks(results: dict, config: Config) -> Checks:
    calculus = derived("kl_lab.privacy.rates (nldp_coordinate_std, iht_coordinate_std); module docstring (1)")
    regime = derived("module docstring, 'Regime': n >~ d^3 / eps^2 puts the covariance noise below lambda_min")
    boot_key = jax.random.key(1)
    c = Checks(PAPER)
    for ai, axis in enumerate(config.axes):
        t = _axis_values(axis, config)
        params = _point_params(axis, config)
        for ei, est in enumerate(ESTIMATORS):
            err = results[axis][est]["error"]
            fit = P.fit_loglog_slope(t, err, jax.random.fold_in(boot_key, 10 * ai + ei), n_boot=config.n_boot)
            pred = np.array([predicted_error(est, p["n"], p["d"], p["k"], p["eps"], config) for p in params])
            pred_slope = stats.loglog_slope(t, pred).slope
            alts = _alternatives(axis, est, pred_slope) if config.resolve else None
            c.slope(
                f"{est}_{axis}_slope", pred_slope, fit.slope, tol=3 * fit.stderr,
                why=f"3 bootstrap s.e. of the fitted slope ({config.trials} trials per point, each the mean of "
                f"{config.replicates} privatizations)" + ("" if config.resolve else "; quick: alternatives not tested"),
                claim=f"{LABELS[est]}: d log(error) / d log({axis}) matches the implementation's noise calculus"
                + (f" and excludes the competing powers {[round(a, 3) for a in alts]}" if alts else ""),
                origin=calculus, alternatives=alts or None,
            )  # fmt: skip
            c.lower_bound(
                f"{est}_{axis}_regime", np.asarray(results[axis][est]["support_ok"], float).mean(axis=1), 0.9,
                why="a coverage requirement, not a measurement: no slack",
                claim="the support is recovered in >= 90% of trials at every point (the rate regime is reached)",
                origin=regime,
            )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    from matplotlib.ticker import NullFormatter  # noqa: PLC0415

    fig, axes = plotting.subplots(1, len(config.axes), width=3.0, height=2.7, squeeze=False)
    axes = axes.ravel()
    titles = {"n": "error vs n", "eps": "error vs ε", "d": "error vs d", "k": "error vs k"}
    for ax, axis in zip(axes, config.axes):
        t = _axis_values(axis, config)
        params = _point_params(axis, config)
        tt = np.geomspace(t[0], t[-1], 30)
        for ci, est in enumerate(ESTIMATORS):
            err = np.asarray(results[axis][est]["error"])
            m, se = err.mean(1), err.std(1, ddof=1) / np.sqrt(err.shape[1])
            color = plotting.PALETTE[ci]
            ax.errorbar(t, m, yerr=2 * se, color=color, label=f"{LABELS[est]} (simulation)", **plotting.sim_style)
            pred = [predicted_error(est, p["n"], p["d"], p["k"], p["eps"], config) for p in params]
            ax.plot(t, pred, color=color, linewidth=1.0)
            rate = P.RATES[PAPER_RATE[est]]
            p_last = params[-1]
            vals = np.array(
                [float(rate(*(tv if a == axis else p_last[a] for a in ("n", "d", "k", "eps")))) for tv in tt]
            )
            ax.plot(tt, vals * m[-1] / vals[-1], color=color, linestyle="--", linewidth=0.9)
        ax.set(xscale="log", yscale="log", xlabel={"eps": "ε"}.get(axis, axis), title=titles[axis])
        ax.set_xticks(t, [f"{v:.3g}" if axis != "n" else f"{v:.2g}" for v in t])
        ax.xaxis.set_minor_formatter(NullFormatter())
        if ax is axes[0]:
            ax.set_ylabel("‖θ̂ − θ*‖₂ (mean ± 2 s.e.)")
    axes[0].plot([], [], color="gray", linewidth=1.0, label="noise calculus (first order)")
    axes[0].plot([], [], color="gray", linestyle="--", linewidth=0.9, label="paper's rate (fitted constant)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=5, fontsize=7)
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
