"""Information through linear layers: He & Goldfeld's train-vs-test KL, and (extension) noisy-layer class KL and SDPI.

He & Goldfeld's quantity (kl_lab/preference/representations.py): the KL between the *training* and *test*
laws of each layer's representation, here for Gaussian inputs shifted between train and test, through
linear noiseless layers: it stays constant across injective layers and drops only at the rank-3 "funnel"
layer (checked against Monte Carlo log-likelihood ratios of simulated training representations).

Extension, labelled as such (not the paper's quantity): the KL between the two *classes*.

Binary Gaussian classification X | Y = ±1 ~ N(±mu, I) pushed through random
linear layers with Gaussian noise injection (kl_lab/preference/generalization.py).
Checks: KL between the class-conditional representation laws never increases
with depth (data processing), in every sampled network; the closed-form KL
agrees with a Monte Carlo log-likelihood-ratio estimate; W1 = 2 ||m_k|| equals
the closed-form Gaussian W2 (equal covariances); the TV contraction of
Gaussian noise on a ball of radius R is erf(R / (sqrt2 sigma)), attained by
antipodal points and never exceeded by random input pairs; narrower layers
contract KL more, on average (the mechanism behind "deeper-narrower
generalises better").
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.scipy.stats import norm

from kl_lab import cli, experiment, plotting, stats
from kl_lab.checks import Checks, derived, hypothesis, law
from kl_lab.preference import generalization as gen
from kl_lab.preference import representations as rep
from kl_lab.sweep import sweep

TITLE = "Noisy linear layers: per-layer KL (data processing), W1, and the Gaussian-noise SDPI"
PAPER = experiment.Paper(
    authors="He & Goldfeld", year=2024, arxiv="2404.03176v1", where="abstract; closed forms derived here"
)
CLAIM = (
    "KL between class-conditional representations is non-increasing in depth, Gaussian noise contracts TV by "
    "erf(R/(sqrt2 sigma)) on a ball of radius R, and narrower layers contract more."
)
RUNTIME = "30 s"


@dataclasses.dataclass(frozen=True)
class Config:
    input_dim: int = 8
    depth: int = 8
    widths: tuple[int, ...] = (2, 4, 8, 16)
    networks: int = 64  # random networks per width
    sigma: float = 0.5
    mean_scale: float = 0.5
    mc_samples: int = 20000  # for the MC check of the closed-form KL
    radius: float = 1.0
    noise_sigmas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    random_pairs: int = 512  # random two-point input laws per sigma for the SDPI
    tv_grid: int = 4001  # quadrature nodes for TV between 1-D Gaussian mixtures

    @classmethod
    def quick(cls) -> Config:
        # depth 4 (the layer loops are unrolled: compile time grows with depth, and compilation is most of the
        # quick run) and three widths: every check is still there, with the same tolerances
        return cls(depth=4, widths=(2, 4, 8), networks=48, mc_samples=4000, random_pairs=64, tv_grid=1601)


def _network_kls(config: Config, key: jax.Array, width: int):
    widths = (config.input_dim,) + (width,) * config.depth
    mu = jnp.full((config.input_dim,), config.mean_scale)

    def one(k):
        weights = gen.random_linear_network(k, widths)
        laws = gen.linear_gaussian_layer_laws(mu, jnp.eye(config.input_dim), weights, config.sigma)
        return laws.kl, laws.w1

    return sweep(
        lambda p: dict(zip(("kl", "w1"), one(p["key"]))),
        {"key": jax.random.split(key, config.networks)},
        name=f"width{width}",
    )


@functools.partial(jax.jit, static_argnums=(4,))
def _simulate(key, mu, weights, sigma, n):
    """Class +1 activations at the last layer: n draws of T_L."""
    keys = jax.random.split(key, len(weights) + 1)
    t = mu + jax.random.normal(keys[0], (n, mu.shape[0]))
    for k, w in enumerate(weights):
        t = t @ w.T + sigma * jax.random.normal(keys[k + 1], (n, w.shape[0]))
    return t


@jax.jit
def _llr_stats(t, m, c):
    llr = 2 * t @ jnp.linalg.solve(c, m)  # log N(t; m, C) - log N(t; -m, C)
    return jnp.mean(llr), jnp.std(llr, ddof=stats.DDOF) / jnp.sqrt(t.shape[0])  # kl_lab.stats convention


def _mc_kl_first_network(config: Config, key: jax.Array):
    """MC estimate of KL at the last layer of one 4-wide network, from simulated class-+1 activations."""
    widths = (config.input_dim,) + (4,) * config.depth
    kw, kx = jax.random.split(key)
    mu = jnp.full((config.input_dim,), config.mean_scale)

    @jax.jit
    def build(k):
        weights = gen.random_linear_network(k, widths)
        return weights, gen.linear_gaussian_layer_laws(mu, jnp.eye(config.input_dim), weights, config.sigma)

    weights, laws = build(kw)
    t = _simulate(kx, mu, weights, config.sigma, config.mc_samples)
    m, c = laws.means[-1], laws.covs[-1]
    kl_mc, kl_se = _llr_stats(t, m, c)
    # W2 by the Bures formula with scipy's matrix square root -- independent of the 2||m|| shortcut
    mn, cn = np.asarray(m), np.asarray(c)
    root = scipy.linalg.sqrtm(cn)
    cross = np.real(scipy.linalg.sqrtm(root @ cn @ root))
    w2 = np.sqrt(np.sum((2 * mn) ** 2) + max(np.trace(cn + cn - 2 * cross), 0.0))
    return {"kl_exact": laws.kl[-1], "kl_mc": kl_mc, "kl_mc_se": kl_se, "w1": laws.w1[-1], "w2": w2}


def _sdpi(config: Config, key: jax.Array):
    """Largest TV ratio over random two-point input laws on [-R, R] (d = 1), for each noise level."""
    r = config.radius
    grid = jnp.linspace(-r - 12 * max(config.noise_sigmas), r + 12 * max(config.noise_sigmas), config.tv_grid)
    dx = grid[1] - grid[0]

    def ratio(pt):
        sig = pt["sigma"]
        k1, k2 = jax.random.split(pt["key"])
        x = jax.random.uniform(k1, (2,), minval=-r, maxval=r)  # support points
        w = jax.random.uniform(k2, (2,))  # P(x1) under the two input laws
        tv_in = jnp.abs(w[0] - w[1])
        dens = lambda wt: wt * norm.pdf(grid, x[0], sig) + (1 - wt) * norm.pdf(grid, x[1], sig)
        tv_out = 0.5 * jnp.sum(jnp.abs(dens(w[0]) - dens(w[1]))) * dx
        return {"ratio": tv_out / tv_in}

    sig = np.repeat(np.asarray(config.noise_sigmas), config.random_pairs)
    out = sweep(ratio, {"sigma": sig, "key": jax.random.split(key, len(sig))}, name="sdpi")
    # antipodal point masses at -R and R (TV_in = 1): TV_out by the same Riemann sum, independent of the erf
    antipodal = np.asarray(
        jax.jit(jax.vmap(lambda s: 0.5 * jnp.sum(jnp.abs(norm.pdf(grid, -r, s) - norm.pdf(grid, r, s))) * dx))(
            jnp.asarray(config.noise_sigmas)
        )
    )
    return {
        "sdpi_sigma": sig,
        "sdpi_ratio": out["ratio"],
        "antipodal_tv": antipodal,
        "eta_theory": np.asarray(gen.gaussian_noise_tv_contraction(r, np.asarray(config.noise_sigmas))),
    }


def _train_test(config: Config, key: jax.Array):
    """He & Goldfeld's quantity: train vs test laws of each representation through noiseless linear layers.

    Train inputs N(mu, I), test inputs N(mu + shift, I); layers 8 -> 12 -> 12 (injective) -> 3 (the funnel,
    rank 3) -> 12 (injective again, rank stays 3). Closed forms from kl_lab/preference/representations.py;
    Monte Carlo log-likelihood ratios of simulated training representations at layer 1 and at the funnel.
    """
    laws, llrs = _train_test_arrays(key, config.input_dim, config.mean_scale, config.mc_samples)
    out = {"tt_kl": laws.kl, "tt_w1": laws.w1, "tt_rank": laws.rank}
    for k, llr in llrs.items():
        out[f"tt_mc_kl_{k}"], out[f"tt_mc_kl_se_{k}"] = stats.mean_se(np.asarray(llr))
    return jax.tree_util.tree_map(np.asarray, out)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _train_test_arrays(key, d, mean_scale, mc_samples):
    """:func:`_train_test`'s closed forms and per-sample log-likelihood ratios: one compilation, not one per op."""
    ks = jax.random.split(key, 6)
    widths = (d, 12, 12, 3, 12)
    weights = [jax.random.normal(ks[i], (widths[i + 1], widths[i])) / np.sqrt(widths[i]) for i in range(4)]
    mu = jnp.full((d,), mean_scale)
    shift = 0.5 * jax.random.normal(ks[4], (d,)) / np.sqrt(d)
    laws = rep.train_test_layer_laws(mu, mu + shift, jnp.eye(d), weights)
    x = mu + jax.random.normal(ks[5], (mc_samples, d))  # training inputs
    llrs = {}
    t = x
    for k, w in enumerate(weights, start=1):
        t = t @ w.T
        if k in (1, 3):
            c_pinv = jnp.linalg.pinv(laws.covs[k], hermitian=True)
            m_tr, m_te = weights_apply(weights[:k], mu), weights_apply(weights[:k], mu + shift)
            q = lambda m: jnp.einsum("ni,ij,nj->n", t - m, c_pinv, t - m)  # noqa: E731, B023 (used at once)
            llrs[k] = 0.5 * (q(m_te) - q(m_tr))  # log N_train(t) - log N_test(t) on the support
    return laws, llrs


def weights_apply(weights, v):
    for w in weights:
        v = w @ v
    return v


def run(config: Config, key: jax.Array) -> dict:
    keys = jax.random.split(key, len(config.widths) + 3)
    res = {}
    for k, width in zip(keys, config.widths):
        out = _network_kls(config, k, width)
        res[f"kl_w{width}"], res[f"w1_w{width}"] = out["kl"], out["w1"]
    res.update(jax.tree_util.tree_map(np.asarray, _mc_kl_first_network(config, keys[-3])))
    res.update(_sdpi(config, keys[-2]))
    res.update(_train_test(config, keys[-1]))
    return res


def checks(results: dict, config: Config) -> Checks:
    kls = [results[f"kl_w{w}"] for w in config.widths]
    inc = np.concatenate([(k[:, 1:] / k[:, :-1]).ravel() for k in kls])
    final = [stats.mean_se(np.log(k[:, -1])) for k in kls]  # (mean, standard error) of log KL_L per width
    diffs = [final[i][0] - final[i + 1][0] for i in range(len(final) - 1)]
    ses = [np.hypot(final[i][1], final[i + 1][1]) for i in range(len(final) - 1)]
    grid_step = (2 * config.radius + 24 * max(config.noise_sigmas)) / (config.tv_grid - 1)
    sdpi = derived(
        "kl_lab/preference/generalization.py: Dobrushin's two-point coefficient of x -> x + sigma Z on the ball "
        "(Polyanskiy & Wu 2017, recalled [I]; the paper's SDPI coefficients were not available)"
    )
    c = Checks(PAPER)
    c.upper_bound(
        "kl_nonincreasing_every_layer", inc, 1.0, slack=1e-12, why="ratio of exact closed forms; float64 rounding",
        claim="KL_k <= KL_{k-1} at every layer of every network", origin=law("data-processing inequality for KL"),
    )  # fmt: skip
    c.within_se(
        "closed_form_kl_vs_monte_carlo", float(results["kl_exact"]), float(results["kl_mc"]),
        float(results["kl_mc_se"]), z=4.0, why="Monte Carlo log-likelihood ratios",
        claim="KL_L = 2 m^T C^-1 m matches E[log-likelihood ratio]",
        origin=law("KL between Gaussians of equal covariance: KL(N(m, C) || N(-m, C)) = 2 m^T C^-1 m"),
    )  # fmt: skip
    c.close(
        "w1_equals_w2_equal_covariance", float(results["w2"]), float(results["w1"]), rtol=1e-6,
        why="scipy sqrtm of a C with condition number <= ~1e3 is accurate to ~1e-9 relative; W2 adds it",
        claim="W1 = 2||m|| equals the Bures-formula W2 for N(m, C), N(-m, C)",
        origin=derived("coupling argument in kl_lab/preference/generalization.py"),
    )  # fmt: skip
    c.upper_bound(
        "sdpi_never_exceeded", results["sdpi_ratio"],
        np.asarray(results["eta_theory"])[np.searchsorted(config.noise_sigmas, results["sdpi_sigma"])],
        slack=grid_step**2 / (np.sqrt(2 * np.pi) * min(config.noise_sigmas)),
        why="Riemann-sum TV: smooth integrand except one kink, error O(step^2 x peak density)",
        claim="TV ratio <= erf(R/(sqrt2 sigma)) for random input pairs on the ball", origin=sdpi,
    )  # fmt: skip
    c.close(
        "sdpi_attained_by_antipodal_points", results["eta_theory"], results["antipodal_tv"],
        atol=grid_step**2 / (np.sqrt(2 * np.pi) * min(config.noise_sigmas)),
        why="Riemann-sum TV of the two output laws (numerical integration, not the erf): error O(step^2 x peak "
        "density)",
        claim="antipodal point masses attain erf(R/(sqrt2 sigma))", origin=sdpi,
    )  # fmt: skip
    c.upper_bound(
        "narrower_layers_contract_more", np.asarray(diffs) + 3 * np.asarray(ses), 0.0,
        why="difference of means must stay below 0 by 3 standard errors",
        claim="mean log KL at depth L decreases as the width decreases",
        origin=hypothesis("random noisy linear layers as the mechanism of the abstract's 'deeper-yet-narrower "
                          "generalises better' (the paper's bounds were not available)"),
    )  # fmt: skip
    # He & Goldfeld's own quantity: train vs test representation laws (noiseless linear layers)
    tt = derived("kl_lab/preference/representations.py: train vs test laws through noiseless linear layers")
    kl_tt = results["tt_kl"]
    c.close(
        "train_test_kl_unchanged_by_injective_layers", kl_tt[0], kl_tt[[1, 2]], rtol=1e-9,
        why="pseudo-inverse of a covariance with condition number <~1e4; float64",
        claim="KL(train || test) of the representation is the same after injective linear layers",
        origin=law("KL is invariant under injective (invertible on the support) maps"),
    )  # fmt: skip
    c.within_se(
        "train_test_kl_injective_vs_monte_carlo", kl_tt[1], results["tt_mc_kl_1"], results["tt_mc_kl_se_1"],
        claim="simulated training representations at layer 1: E[log-likelihood ratio] = KL_0 (no loss)", origin=tt,
    )  # fmt: skip
    c.within_se(
        "train_test_kl_drops_at_funnel", kl_tt[3], results["tt_mc_kl_3"], results["tt_mc_kl_se_3"],
        alternatives=[float(kl_tt[0])],
        claim="at the rank-3 funnel layer the simulated train-vs-test KL drops to the projected closed form "
        "(and is told from the input KL)", origin=tt,
    )  # fmt: skip
    c.close(
        "train_test_kl_constant_after_funnel", kl_tt[3], kl_tt[4], rtol=1e-9,
        why="pseudo-inverse on the rank-3 range; float64",
        claim="an injective layer after the funnel keeps the reduced KL (rank stays 3)",
        origin=law("KL is invariant under injective maps"),
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2, ax3) = plotting.subplots(1, 3, width=2.9)
    layers = np.arange(config.depth + 1)
    for i, w in enumerate(config.widths):
        kl = results[f"kl_w{w}"]
        c = plotting.PALETTE[i]
        ax1.plot(layers, np.median(kl, axis=0), "o-", color=c, label=f"width {w}")
        ax1.fill_between(layers, *np.percentile(kl, [25, 75], axis=0), color=c, alpha=0.2)
        ax2.plot(layers, np.median(results[f"w1_w{w}"], axis=0), "o-", color=c, label=f"width {w}")
    ax1.set(yscale="log", xlabel="layer k", ylabel="KL between classes (median, IQR)", title="data processing")
    ax1.legend()
    ax2.set(yscale="log", xlabel="layer k", ylabel="W1 = 2||m_k|| (median)", title="W1 need not decrease")
    sig = np.asarray(config.noise_sigmas)
    ax3.scatter(results["sdpi_sigma"], results["sdpi_ratio"], s=4, alpha=0.4, label="random input pairs")
    sg = np.geomspace(sig.min(), sig.max(), 100)
    ax3.plot(
        sg,
        np.asarray(gen.gaussian_noise_tv_contraction(config.radius, sg)),
        **plotting.theory_style,
        label="erf(R / (sqrt2 sigma))",
    )
    ax3.set(xscale="log", xlabel="noise sigma (R = 1)", ylabel="TV_out / TV_in", title="Gaussian-noise SDPI")
    ax3.legend()
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
