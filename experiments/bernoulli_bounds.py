"""Pinsker and Bretagnolle–Huber bounds on total variation, over Bernoulli pairs.

For Bernoulli(p) and Bernoulli(q): KL = p log(p/q) + (1-p) log((1-p)/(1-q)) -- computed by the
library's ``kl_lab.divergences.kl`` on the two-point pmfs (p, 1 - p) in log space, and checked against
a 50-digit decimal value on a few pairs --
TV = |p - q|. Pinsker: TV <= sqrt(KL/2). Bretagnolle–Huber: TV <= sqrt(1 - exp(-KL)).

On tightness: as q -> p, KL = (p-q)^2 / (2 p (1-p)) + O((p-q)^3), so
TV / sqrt(KL/2) -> 2 sqrt(p (1-p)), which is 1 only at p = 1/2. "Pinsker is
tight as p -> q" therefore holds at p = 1/2 (where the ratio is
1 - eps^2 + O(eps^4) with eps = q - 1/2) and nowhere else; the figure shows
the limit 2 sqrt(p(1-p)) for every p. The two bounds cross at the KL solving
1 - exp(-K) = K/2 (K ~ 1.5936): beyond it Bretagnolle–Huber is the tighter one.
"""

from __future__ import annotations

import dataclasses
import decimal
import math

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import cli, experiment, plotting
from kl_lab import divergences as dv
from kl_lab.checks import Checks, derived, law
from kl_lab.sweep import grid, sweep

TITLE = "Pinsker and Bretagnolle–Huber bounds over Bernoulli pairs"
PAPER = experiment.Paper(
    authors="Tsybakov",
    year=2009,
    arxiv="none (Introduction to Nonparametric Estimation)",
    where="Lemma 2.5 (Pinsker) and Lemma 2.6 (Bretagnolle–Huber)",
)
CLAIM = "TV <= sqrt(KL/2) and TV <= sqrt(1 - exp(-KL)) for every pair; Pinsker is tight as q -> p = 1/2."
RUNTIME = "5 s"

#: KL at which the two bounds cross: the root of 1 - exp(-K) = K / 2
CROSSING_KL = 1.5936242600400401

#: (p, q) pairs whose KL is compared with a 50-digit decimal value (interior, near-equal, extreme)
REF_PAIRS = ((0.5, 0.25), (0.1, 0.9), (0.3, 0.3001), (1e-3, 0.5), (0.999, 0.01), (0.0, 0.4), (0.7, 1e-6))


@dataclasses.dataclass(frozen=True)
class Config:
    grid_points: int = 401  # p and q each on a uniform grid over [0, 1], endpoints included
    tight_eps: tuple[float, ...] = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3)
    limit_p: tuple[float, ...] = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)  # where the ratio's limit 2 sqrt(p(1-p)) is tested
    limit_eps: float = 1e-3  # q = p +- eps, p +- 2 eps
    chunk_size: int = 8192

    @classmethod
    def quick(cls) -> Config:
        return cls(grid_points=41, chunk_size=256)


def _two_point(p):
    """log of the pmf (p, 1 - p) on {1, 0}: the Bernoulli as a two-point distribution in log space."""
    return jnp.stack([jnp.log(p), jnp.log1p(-p)], axis=-1)


def _point(pq):
    p, q = pq["p"], pq["q"]
    return {"kl": dv.kl(_two_point(p), _two_point(q)), "tv": jnp.abs(p - q)}


def run(config: Config, key: jax.Array) -> dict:
    del key  # deterministic experiment
    axis = np.linspace(0.0, 1.0, config.grid_points)
    pts = grid(p=axis, q=axis)
    out = sweep(_point, pts, chunk_size=config.chunk_size, name="grid")
    eps = np.asarray(config.tight_eps)
    near = sweep(_point, {"p": np.full_like(eps, 0.5), "q": 0.5 + eps}, name="near_half")
    # the Pinsker ratio's limit 2 sqrt(p (1 - p)) as q -> p, from both sides, at eps and 2 eps
    p0 = np.asarray(config.limit_p)
    e = config.limit_eps
    steps = np.asarray([-2 * e, -e, e, 2 * e])
    lim = grid(p=p0, s=steps)
    lim_out = sweep(_point, {"p": lim["p"], "q": lim["p"] + lim["s"]}, name="limit")
    # a few pairs for the independent (50-digit decimal) KL reference
    ref_p, ref_q = np.asarray(REF_PAIRS).T
    ref = sweep(_point, {"p": ref_p, "q": ref_q}, name="reference")
    return {
        "p": pts["p"],
        "q": pts["q"],
        "kl": out["kl"],
        "tv": out["tv"],
        "eps": eps,
        "ratio_near_half": near["tv"] / np.sqrt(near["kl"] / 2),
        "limit_p": p0,
        "limit_steps": steps,
        "limit_ratio": (lim_out["tv"] / np.sqrt(lim_out["kl"] / 2)).reshape(len(p0), len(steps)),
        "ref_kl": ref["kl"],
    }


def _reference_bernoulli_kl(p: float, q: float) -> float:
    """KL(Ber(p) || Ber(q)) in 50-digit decimal arithmetic (standard library): the independent reference."""
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        p_, q_ = decimal.Decimal(p), decimal.Decimal(q)  # the exact binary values of the float inputs
        t = lambda a, b: decimal.Decimal(0) if a == 0 else a * (a / b).ln()  # noqa: E731
        return float(t(p_, q_) + t(1 - p_, 1 - q_))


def checks(results: dict, config: Config) -> Checks:
    kl, tv = results["kl"], results["tv"]
    pinsker, bh = np.sqrt(kl / 2), np.sqrt(-np.expm1(-kl))
    rounding = "float64 rounding of a few ulps in KL and sqrt"
    eps_min = float(np.min(results["eps"]))
    big = (kl > CROSSING_KL * (1 + 1e-6)) & np.isfinite(kl)
    c = Checks(PAPER)
    c.upper_bound(
        "pinsker_holds", tv, pinsker, slack=1e-12, why=rounding,
        claim="TV <= sqrt(KL/2) at every grid pair", origin=law("Pinsker's inequality, Tsybakov Lemma 2.5"),
    )  # fmt: skip
    c.upper_bound(
        "bretagnolle_huber_holds", tv, bh, slack=1e-12, why=rounding,
        claim="TV <= sqrt(1 - exp(-KL)) at every grid pair", origin=law("Bretagnolle-Huber, Tsybakov Lemma 2.6"),
    )  # fmt: skip
    c.upper_bound(
        "bh_tighter_beyond_crossing", bh[big], pinsker[big],
        claim="for KL > 1.5936 the BH bound is below Pinsker's", origin=derived("module docstring (crossing K)"),
    )  # fmt: skip
    c.close(
        "pinsker_tight_at_half", 1.0, float(results["ratio_near_half"][np.argmin(results["eps"])]),
        rtol=2 * eps_min**2, why="ratio = 1 - eps^2 + O(eps^4); allow twice the leading term",
        claim="TV / sqrt(KL/2) -> 1 as q -> p = 1/2", origin=derived("expansion in the module docstring"),
    )  # fmt: skip
    # limit 2 sqrt(p(1-p)) from both sides: ratio(p, p + s) = L (1 + c s + O(s^2)), so |ratio(2s) - ratio(s)|
    # estimates the O(s) error at s; twice it (plus float64 cancellation eps/s in KL) is the tolerance
    p0, r = results["limit_p"], results["limit_ratio"]  # columns: -2e, -e, +e, +2e
    lim = 2 * np.sqrt(p0 * (1 - p0))
    first = np.stack([r[:, 1], r[:, 2]], axis=1)
    err = np.stack([np.abs(r[:, 0] - r[:, 1]), np.abs(r[:, 3] - r[:, 2])], axis=1)
    c.close(
        "pinsker_ratio_limit_two_sided", np.repeat(lim[:, None], 2, axis=1),
        first, atol=float(2 * np.max(err) + 1e-9),
        why="O(eps) truncation, bounded by twice |ratio(2 eps) - ratio(eps)| on each side (Richardson), plus "
        "float64 cancellation eps_mach / eps ~ 1e-13 in KL with a 1e4 margin",
        claim="TV / sqrt(KL/2) -> 2 sqrt(p (1 - p)) as q -> p from above and from below, at every tested p "
        "(so Pinsker is tight only at p = 1/2)",
        origin=derived("module docstring: KL = (p-q)^2 / (2 p (1-p)) + O((p-q)^3)"),
    )  # fmt: skip
    ref = np.asarray([_reference_bernoulli_kl(p, q) for p, q in REF_PAIRS])
    # rounding: each log x carries an absolute error eps |log x|; weighted by the pmf and divided by KL this is
    # the relative error bound (largest for the near-equal pair, where KL ~ 2e-8 cancels from terms ~ 1e-4)
    cond = [
        sum(a * (abs(math.log(a)) + abs(math.log(b))) for a, b in ((p, q), (1 - p, 1 - q)) if a > 0) / k
        for (p, q), k in zip(REF_PAIRS, ref)
    ]
    c.close(
        "kl_matches_50_digit_reference", ref, results["ref_kl"], rtol=float(4 * np.finfo(float).eps * max(cond)),
        why=f"float64 logs of the inputs: 4 eps x the condition number sum_x x (|log p_x| + |log q_x|) / KL "
        f"(at most {max(cond):.2g}, the near-equal pair)",
        claim="the library's KL of two-point distributions equals p log(p/q) + (1-p) log((1-p)/(1-q)) "
        "(50-digit decimal arithmetic) on interior, near-equal and extreme pairs",
        origin=law("KL between Bernoulli distributions (definition)"),
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2) = plotting.subplots(1, 2)
    kl, tv = results["kl"], results["tv"]
    fin = np.isfinite(kl)
    ax1.scatter(kl[fin], tv[fin], s=1.5, alpha=0.3, color=plotting.PALETTE[5], label="Bernoulli pairs", rasterized=True)
    k = np.linspace(0, max(float(np.max(kl[fin])), 3.0), 400)
    ax1.plot(k, np.minimum(np.sqrt(k / 2), 1.0), color=plotting.PALETTE[0], label="Pinsker sqrt(KL/2)")
    ax1.plot(k, np.sqrt(-np.expm1(-k)), color=plotting.PALETTE[3], label="Bretagnolle–Huber")
    ax1.axvline(CROSSING_KL, **plotting.theory_style, label="crossing K = 1.594")
    ax1.set(
        xlabel="KL(p || q)", ylabel="TV(p, q)", xlim=(0, min(float(k[-1]), 8)), ylim=(0, 1.05), title="TV against KL"
    )
    ax1.legend(loc="lower right")
    n = config.grid_points
    p, q = results["p"].reshape(n, n), results["q"].reshape(n, n)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 on the diagonal p = q: not plotted
        ratio = tv.reshape(n, n) / np.sqrt(kl.reshape(n, n) / 2)
    for j, p0 in enumerate((0.5, 0.3, 0.1)):
        i = int(np.argmin(np.abs(p[:, 0] - p0)))
        ax2.plot(q[i], ratio[i], color=plotting.PALETTE[j], label=f"p = {p[i, 0]:.2f}")
        ax2.axhline(2 * np.sqrt(p[i, 0] * (1 - p[i, 0])), color=plotting.PALETTE[j], linestyle=":", linewidth=1)
    ax2.set(xlabel="q", ylabel="TV / sqrt(KL/2)", ylim=(0, 1.05), title="Pinsker ratio (dotted: limit 2√(p(1-p)))")
    ax2.legend(loc="lower center")
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
