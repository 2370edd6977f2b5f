"""LDP mechanisms: worst-case likelihood ratios against e^epsilon, and debiased variances against their formulas.

For each randomizer of :mod:`kl_lab.privacy` and each epsilon, two neighbouring inputs ``x, x'``
(the extreme pair) are released ``samples`` times each. The empirical log likelihood ratio of every
output cell (the exact outputs for randomized response, k-RR and Duchi et al.; 40 equal bins for
the piecewise and Laplace mechanisms) is compared with epsilon, and the exact max-divergence of the
discrete mechanisms' output laws (:func:`kl_lab.privacy.ldp_epsilon`, a Rényi-infinity divergence)
must equal epsilon to rounding. The Gaussian mechanism is not pure DP: its Monte Carlo privacy
profile ``delta(eps) = E_P[(1 - e^{eps - L})_+]`` (``L`` the privacy loss) is compared with the exact
analytic calibration's delta (Balle & Wang 2018, Thm 8). Finally the variance of each debiased
single-user estimate is compared with its closed form.

The exact output laws of the discrete mechanisms are checked three ways (issue 21): the library's table
(``rr_log_probs``, ``krr_log_probs``, ``duchi_log_probs``) against an independent NumPy construction from the
mechanism's definition (:func:`_reference_table`), the sampler's output frequencies against that table
(multinomial standard errors), and the accountant ``ldp_epsilon`` on the independent table against eps.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import cli, experiment, plotting
from kl_lab import privacy as P
from kl_lab.checks import Checks, derived, law, paper
from kl_lab.sweep import sweep

TITLE = "LDP mechanisms: likelihood ratios and debiased variances"
PAPER = experiment.Paper(
    authors="Duchi, Jordan, Wainwright", year=2018, arxiv="1604.02390", where="Sec. 4.2.3 (vector mechanism)"
)
#: the other two papers whose claims are checked here, cited with their own ids
WANG = experiment.Paper(
    authors="Wang, Xiao, Yang, Zhao, Hui, Shin, Shin, Yu", year=2019, arxiv="1907.00782", where="Alg. 2 (piecewise)"
)
BALLE_WANG = experiment.Paper(authors="Balle & Wang", year=2018, arxiv="1805.06530", where="Thm 8 (analytic Gaussian)")
CLAIM = (
    "Every mechanism's worst-case likelihood ratio is e^eps (attained), and each debiased estimate "
    "has the stated variance."
)
RUNTIME = "40 s"

MECHS = ("rr", "krr", "duchi", "piecewise", "laplace", "gaussian")
K_RR, D_DUCHI, BINS, DELTA = 4, 3, 40, 1e-5
X_VAR = {"rr": 1.0, "krr": 0.0, "duchi": 0.5, "piecewise": 0.3, "laplace": 0.3, "gaussian": 0.3}


@dataclasses.dataclass(frozen=True)
class Config:
    samples: int = 400_000
    eps_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    @classmethod
    def quick(cls) -> Config:
        return cls(samples=100_000, eps_grid=(0.5, 2.0))


def _edges(mech, eps):
    """Equal bins over the output range (piecewise: [-C, C]; Laplace: [-1 - 6b, 1 + 6b])."""
    if mech == "piecewise":
        c = (jnp.exp(eps / 2) + 1) / (jnp.exp(eps / 2) - 1)
        return jnp.linspace(-c, c, BINS + 1)
    b = 2.0 / eps
    return jnp.linspace(-1 - 6 * b, 1 + 6 * b, BINS + 1)


def _counts(cells, n_cells):
    return jnp.zeros((n_cells,), jnp.int32).at[cells].add(1)


def _point(p, *, mech, n):
    eps, key = p["eps"], p["key"]
    k1, k2, k3 = jax.random.split(key, 3)
    out = {}
    if mech in ("rr", "krr"):
        kk = 2 if mech == "rr" else K_RR
        rel = (
            (lambda k, v: P.randomized_response(k, v, eps))
            if mech == "rr"
            else (lambda k, v: P.kary_randomized_response(k, v, eps, K_RR))
        )
        out["c0"] = _counts(rel(k1, jnp.zeros((n,), jnp.int32)), kk)
        out["c1"] = _counts(rel(k2, jnp.ones((n,), jnp.int32)), kk)
        rep = rel(k3, jnp.full((n,), int(X_VAR[mech]), jnp.int32))
        if mech == "rr":
            est = P.rr_debias(rep, eps)
        else:  # debiased indicator of value 0: (1[report = 0] - q) / (p - q)
            p_keep, q_other = jnp.exp(P.krr_log_probs(eps, K_RR)[0, :2])
            est = ((rep == 0) - q_other) / (p_keep - q_other)
    elif mech == "duchi":
        v = jnp.ones((n, D_DUCHI))
        code = lambda z: jnp.sum((z > 0) * (2 ** jnp.arange(D_DUCHI - 1, -1, -1))[None, :], axis=1)  # noqa: E731
        out["c0"] = _counts(code(P.duchi_mechanism(k1, v, eps)), 2**D_DUCHI)
        out["c1"] = _counts(code(P.duchi_mechanism(k2, -v, eps)), 2**D_DUCHI)
        est = P.duchi_mechanism(k3, jnp.full((n, D_DUCHI), X_VAR["duchi"]), eps)[:, 0]
    elif mech in ("piecewise", "laplace"):
        rel = (
            (lambda k, v: P.piecewise_mechanism(k, v, eps))
            if mech == "piecewise"
            else (lambda k, v: P.laplace_mechanism(k, v, eps, 2.0))
        )
        edges = _edges(mech, eps)
        cell = lambda z: jnp.clip(jnp.searchsorted(edges, z) - 1, 0, BINS - 1)  # noqa: E731
        inside = lambda z: (z >= edges[0]) & (z <= edges[-1])  # noqa: E731
        z0, z1 = rel(k1, jnp.ones((n,))), rel(k2, -jnp.ones((n,)))
        out["c0"] = jnp.zeros((BINS,), jnp.int32).at[cell(z0)].add(inside(z0).astype(jnp.int32))
        out["c1"] = jnp.zeros((BINS,), jnp.int32).at[cell(z1)].add(inside(z1).astype(jnp.int32))
        est = rel(k3, jnp.full((n,), X_VAR[mech]))
    else:  # gaussian: privacy loss of N(2, s^2) against N(0, s^2) at the analytic sigma
        sigma = P.gaussian_sigma_analytic(eps, DELTA, 2.0).sigma
        z = 2.0 + sigma * jax.random.normal(k1, (n,))
        loss = (4 * z - 4) / (2 * sigma**2)
        terms = jnp.maximum(-jnp.expm1(eps - loss), 0.0)
        out["delta_mc"], out["delta_se"] = terms.mean(), terms.std() / math.sqrt(n)
        out["sigma"] = sigma
        est = P.gaussian_mechanism(k3, jnp.full((n,), X_VAR[mech]), sigma)
    out["est_mean"], out["est_var"] = est.mean(), est.var()
    out["est_m4"] = jnp.mean((est - est.mean()) ** 4)
    return out


def run(config: Config, key: jax.Array) -> dict:
    eps = np.asarray(config.eps_grid, float)
    res = {}
    for i, mech in enumerate(MECHS):
        keys = jax.random.split(jax.random.fold_in(key, i), len(eps))
        res[mech] = sweep(
            lambda p, mech=mech: _point(p, mech=mech, n=config.samples),
            {"eps": eps, "key": keys},
            chunk_size=1,
            name=mech,
        )
    res["eps"] = eps
    disc = ("rr", "krr", "duchi")
    res["exact_eps"] = {m: np.array([float(P.ldp_epsilon(jnp.log(_reference_table(m, e)))) for e in eps]) for m in disc}
    res["table"] = {m: np.stack([np.exp(np.asarray(_table(m, e)))[:2] for e in eps]) for m in disc}
    return res


def _reference_table(mech, eps):
    """The output law P(output | input) from the mechanism's definition, in NumPy (not the library's code).

    rr / k-RR: keep w.p. e^eps / (e^eps + k - 1), each other value 1 / (e^eps + k - 1) (all k inputs).
    Duchi, odd d, extreme inputs x = +1, -1 (rows): v = x, and w in {-1, 1}^d (itertools order) has
    probability e^eps / (N (e^eps + 1)) if it agrees with v on more than d/2 coordinates, else 1 / (N (e^eps + 1)),
    with N = #{w : agreements > d/2} = 2^(d-1).
    """
    if mech in ("rr", "krr"):
        k = 2 if mech == "rr" else K_RR
        return np.where(np.eye(k, dtype=bool), math.exp(eps), 1.0) / (math.exp(eps) + k - 1)
    w = np.array(list(itertools.product((-1.0, 1.0), repeat=D_DUCHI)))
    n_upper = 2 ** (D_DUCHI - 1)
    rows = []
    for x in (1.0, -1.0):
        agree = np.sum(w == x, axis=1)
        rows.append(np.where(agree > D_DUCHI / 2, math.exp(eps), 1.0) / (n_upper * (math.exp(eps) + 1)))
    return np.array(rows)


def _table(mech, eps):
    if mech == "rr":
        return P.rr_log_probs(eps)
    if mech == "krr":
        return P.krr_log_probs(eps, K_RR)
    cube = np.array([[1.0] * D_DUCHI, [-1.0] * D_DUCHI])
    return P.duchi_log_probs(jnp.asarray(cube), eps)


def _variance(mech, eps):
    x = X_VAR[mech]
    if mech == "rr":
        return float(P.rr_variance(eps))
    if mech == "krr":
        return float(P.krr_variance(1.0, 1, eps, K_RR))
    if mech == "duchi":
        return float(P.duchi_variance(jnp.full((D_DUCHI,), x), eps)[0])
    if mech == "piecewise":
        return float(P.piecewise_variance(x, eps))
    if mech == "laplace":
        return float(P.laplace_variance(eps, 2.0))
    return float(P.gaussian_sigma_analytic(eps, DELTA, 2.0).sigma) ** 2


def _log_ratios(r):
    """Per-cell empirical log(c0/c1) and its delta-method s.e., cells with >= 50 counts in both."""
    c0, c1 = np.asarray(r["c0"], float), np.asarray(r["c1"], float)
    ok = (c0 >= 50) & (c1 >= 50)
    lr = np.where(ok, np.log(np.where(ok, c0, 1) / np.where(ok, c1, 1)), -np.inf)
    se = np.where(ok, np.sqrt(1 / np.where(ok, c0, 1) + 1 / np.where(ok, c1, 1)), np.inf)
    # both directions (x vs x' and x' vs x)
    lr2 = np.where(ok, -lr, -np.inf)
    return np.concatenate([lr, lr2], axis=-1), np.concatenate([se, se], axis=-1)


#: whose claim each mechanism's privacy and moments are
_RR = law("binary randomized response (Warner 1965): ratio e^eps, debiased variance e^eps/(e^eps-1)^2")
_KRR = law("k-ary randomized response (Kairouz et al. 2016; Wang et al. 2017, Sec. 4.1)")
_DJW = paper("DJW Sec. 4.2.3 (vector mechanism; d = 3 is odd, where the repaired version is DJW's)")
_PM = paper("Alg. 2 (piecewise mechanism), ICDE 2019", of=WANG)
_LAP = law("Laplace mechanism (Dwork et al. 2006): scale Delta/eps is eps-DP, unbiased, variance 2 b^2")
_GAUSS = law("additive N(0, sigma^2) noise: unbiased, variance sigma^2")
PRIVACY = {"rr": _RR, "krr": _KRR, "duchi": _DJW, "piecewise": _PM, "laplace": _LAP}
MOMENTS = {
    **PRIVACY,
    "duchi": derived("kl_lab.privacy.randomizers docstring: z_j^2 = B^2, so Var = B^2 - x_j^2"),
    "piecewise": paper("Alg. 2: the PM variance (Lemma 2 per kl_lab.privacy.randomizers)", of=WANG),
    "gaussian": _GAUSS,
}
UNBIASED = {**PRIVACY, "gaussian": _GAUSS}


def checks(results: dict, config: Config) -> Checks:
    eps, n = results["eps"], config.samples
    c = Checks(PAPER)
    for m in ("rr", "krr", "duchi"):
        ref = np.stack([_reference_table(m, e)[:2] for e in eps])  # the two released inputs
        c.close(
            f"{m}_table_matches_definition", ref, results["table"][m], rtol=1e-12,
            why="float64 log-probabilities exponentiated: a few ulps",
            claim="the library's exact output law = the mechanism's definition (independent NumPy construction)",
            origin=PRIVACY[m],
        )  # fmt: skip
        r = results[m]
        counts = np.stack([np.asarray(r["c0"], float), np.asarray(r["c1"], float)], axis=1)
        c.within_se(
            f"{m}_sampler_matches_table", n * ref, counts, np.sqrt(n * ref * (1 - ref)),
            why="binomial s.e. of each output cell's count",
            claim="the sampler's output frequencies follow the exact output law", origin=PRIVACY[m],
        )  # fmt: skip
        c.close(
            f"{m}_exact_max_divergence", eps, results["exact_eps"][m], atol=1e-12,
            why="float64 log-probabilities, a few ulps",
            claim="the accountant's max over input pairs of D_inf(output laws) (ldp_epsilon, on the independent "
            "table) equals eps",
            origin=PRIVACY[m],
        )  # fmt: skip
    for m in ("rr", "krr", "duchi", "piecewise", "laplace"):
        lr, se = _log_ratios(results[m])
        z = np.where(np.isfinite(se), (lr - eps[:, None]) / np.where(np.isfinite(se), se, 1.0), -np.inf)
        c.upper_bound(
            f"{m}_empirical_ratio_within_eps", np.max(z, axis=1), 0.0, slack=4.0,
            why="z-score of the cell's log ratio; 4 s.e. over <= 80 cells: family-wise alarm < 3e-3",
            claim="no output cell has log likelihood ratio above eps", origin=PRIVACY[m],
        )  # fmt: skip
        best, idx = np.argmax(lr - 4 * se, axis=1), np.arange(len(eps))
        c.within_se(
            f"{m}_worst_ratio_attained", eps, lr[idx, best], se[idx, best], z=4.0,
            why="delta-method s.e. of the log count ratio",
            claim="the worst cell's log ratio equals eps (the bound is tight)", origin=PRIVACY[m],
        )  # fmt: skip
    g = results["gaussian"]
    c.within_se(
        "gaussian_mc_delta", DELTA, np.asarray(g["delta_mc"]), np.asarray(g["delta_se"]), z=4.0,
        why="MC s.e. of the mean",
        claim="MC privacy profile E[(1 - e^(eps - L))_+] equals the analytic delta",
        origin=paper("Thm 8 (analytic Gaussian mechanism), ICML 2018", of=BALLE_WANG),
    )  # fmt: skip
    for m in MECHS:
        r = results[m]
        pred = np.array([_variance(m, e) for e in eps])
        var = np.asarray(r["est_var"])
        se = np.sqrt(np.maximum(np.asarray(r["est_m4"]) - var**2, 0) / n)
        c.within_se(
            f"{m}_debiased_variance", pred, var, se, z=4.0, why="s.e. of a sample variance sqrt((mu4 - var^2)/n)",
            claim="variance of the debiased single-user estimate = formula", origin=MOMENTS[m],
        )  # fmt: skip
        c.within_se(
            f"{m}_debiased_mean", np.full_like(pred, X_VAR[m] if m != "krr" else 1.0), np.asarray(r["est_mean"]),
            np.sqrt(pred / n), z=4.0, why="s.e. sqrt(var/n) of the mean",
            claim="the debiased estimate is unbiased", origin=UNBIASED[m],
        )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2) = plotting.subplots(1, 2, width=3.6)
    eps = results["eps"]
    ee = np.linspace(0, eps[-1] * 1.05, 50)
    ax1.plot(ee, ee, **plotting.theory_style, label="ε (the LDP level)")
    for i, m in enumerate(("rr", "krr", "duchi", "piecewise", "laplace")):
        lr, se = _log_ratios(results[m])
        best = np.argmax(lr, axis=1)
        idx = np.arange(len(eps))
        ax1.errorbar(
            eps * (1 + 0.02 * (i - 2)),
            lr[idx, best],
            yerr=2 * se[idx, best],
            color=plotting.PALETTE[i],
            label=m,
            **plotting.sim_style,
        )
    ax1.set(xlabel="ε", ylabel="max empirical log likelihood ratio", title="worst-case ratio vs ε")
    ax1.legend(fontsize=6.5)
    for i, m in enumerate(MECHS):
        pred = np.array([_variance(m, e) for e in eps])
        ax2.plot(eps, pred, color=plotting.PALETTE[i], linewidth=1.0)
        ax2.plot(eps, np.asarray(results[m]["est_var"]), color=plotting.PALETTE[i], label=m, **plotting.sim_style)
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="ε",
        ylabel="variance of the debiased estimate",
        title="variance: formula (lines) vs MC",
    )
    from matplotlib.ticker import NullFormatter  # noqa: PLC0415

    ax2.set_xticks(eps, [f"{e:g}" for e in eps])
    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.legend(fontsize=6.5)
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
