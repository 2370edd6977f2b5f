"""Reward against KL: best-of-n against the KL-constrained RL optimum on the same references.

For a KL budget Delta, the optimum of max E_phi r s.t. KL(phi || ref) <= Delta is
the tilt phi_Delta ∝ ref exp(lam_Delta r) (Yang et al. 2024, arXiv 2404.01730,
Section 3). Best-of-n spends KL(pi_n || ref) =: Delta_n; at that same budget it can
never beat phi_{Delta_n}, and the near-optimality identity
KL(phi || phi_lam) = KL(phi || ref) - lam E_phi r + Lambda(lam) bounds how far it
is from the optimum: KL(pi_n || phi_{Delta_n}) <= lam_{Delta_n} (E_{phi} r - E_{pi_n} r).
At equal KL the bound is an equality: with KL(pi_n || ref) = Delta_n = KL(phi || ref) =
lam E_phi r - Lambda(lam), the identity gives KL(pi_n || phi) = lam (E_phi r - E_{pi_n} r) exactly.
Both are checked at every (reference, n); the two frontiers nearly coincide.

The checks do not compare the library with itself: the KL the returned policy attains, the
near-optimality identity's right-hand side and the log-partition are recomputed in NumPy from
the returned log-probabilities (``_np_kl``, ``_np_identity``), so a solver that hits the wrong
budget or a KL that is off by a few per cent fails ``budget_attained`` or
``near_optimality_identity``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from kl_lab import cli, experiment, plotting
from kl_lab.alignment import (
    best_of_n_expected_reward,
    best_of_n_kl,
    best_of_n_log_probs,
    kl_rl_policy,
    tilt_frontier,
    tilted_rate_function,
    tilted_scaled_cgf_renyi_cross_entropy,
)
from kl_lab.checks import Checks, derived, law, paper
from kl_lab.divergences import kl
from kl_lab.sweep import sweep

TITLE = "Best-of-n against the KL-constrained RL optimum: reward-KL frontiers"
PAPER = experiment.Paper(
    authors="Yang, Salamatian, Sun, Suresh, Beirami",
    year=2024,
    arxiv="2404.01730v1",
    where="Section 3 (optimal KL-constrained policy; near-optimality of comparable methods)",
)
CLAIM = "At equal KL, best-of-n never beats the tilt phi_Delta, and KL(BoN || phi_Delta) <= lam_Delta x (reward gap)."
RUNTIME = "30 s"


@dataclasses.dataclass(frozen=True)
class Config:
    size: int = 100
    cherry_size: int = 10
    n_max_log10: float = 3.0
    n_points: int = 25
    lam_points: int = 200
    renyi_lams: tuple[float, ...] = (0.5, 2.0)
    renyi_t0: tuple[float, ...] = (-0.6, 0.4, 3.0)  # rate evaluated at x = Lambda'(lam + t0); t0 in (-1, 40)

    @classmethod
    def quick(cls) -> Config:
        return cls(size=30, n_points=9, lam_points=60)


def references(config: Config, key: jax.Array):
    """Uniform with linear rewards, Dirichlet with Gaussian rewards, and a cherry-picked reference (top mass 1e-4)."""
    v = config.size
    names = [f"uniform L={v}", f"Dirichlet(0.5) L={v}, Gaussian r", f"cherry-picked L={config.cherry_size}"]
    log_ref = np.full((3, v), -np.inf)
    rewards = np.zeros((3, v))
    log_ref[0] = -np.log(v)
    rewards[0] = np.arange(v) / v
    k1, k2 = jax.random.split(key)
    log_ref[1] = np.log(np.asarray(jax.random.dirichlet(k1, jnp.full(v, 0.5))))
    rewards[1] = np.asarray(jax.random.normal(k2, (v,)))
    cherry = np.full(config.cherry_size, (1 - 1e-4) / (config.cherry_size - 1))
    cherry[-1] = 1e-4
    log_ref[2, : config.cherry_size] = np.log(cherry)
    rewards[2, : config.cherry_size] = np.arange(config.cherry_size) / config.cherry_size
    return names, log_ref, rewards


def run(config: Config, key: jax.Array) -> dict:
    names, log_ref, rewards = references(config, key)
    ns = np.logspace(0.0, config.n_max_log10, config.n_points)
    lams = np.concatenate([[0.0], np.logspace(-2, 3, config.lam_points - 1)])
    nj, lj = jnp.asarray(ns), jnp.asarray(lams)

    def point(pt):  # one reference (a sweep input, so XLA does not constant-fold it), every n
        lr, r = pt["log_ref"], pt["rewards"]

        def at_n(n):
            budget = best_of_n_kl(lr, r, n)
            reward = best_of_n_expected_reward(lr, r, n)
            log_pi = best_of_n_log_probs(lr, r, n)
            opt = kl_rl_policy(lr, r, budget)
            return {
                "log_pi": log_pi,
                "opt_log_probs": opt.log_probs,
                "kl": budget,
                "reward": reward,
                "opt_reward": opt.expected_reward,
                "lam": opt.lam,
                "opt_kl": opt.kl,
                "converged": opt.converged,
                "kl_to_opt": kl(log_pi, opt.log_probs),
            }

        out = jax.vmap(at_n)(nj)
        out["frontier_kl"], out["frontier_reward"] = tilt_frontier(lr, r, lj)
        out["ref_reward"] = jnp.sum(jnp.exp(lr) * r)
        return out

    out = sweep(point, {"log_ref": log_ref, "rewards": rewards}, chunk_size=1, name="frontiers")
    return {
        "names": np.array(names),
        "n": ns,
        "log_ref": log_ref,
        "rewards": rewards,
        **out,
        **_renyi_form(config, log_ref, rewards),
    }


def _renyi_form(config, log_ref, rewards):
    """The tilt's rate function as the Legendre transform of the one-term Renyi cross-entropy CGF (scipy's bounded
    search over t in [-1, 40]) against kl_lab's Cramer route, at x = Lambda'(lam + t0) for the t0 of the config."""
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp as np_lse

    out = {"renyi_rate_legendre": [], "renyi_rate_cramer": [], "renyi_cgf_one_term": [], "renyi_cgf_numpy": []}
    cgf_at = jax.jit(tilted_scaled_cgf_renyi_cross_entropy)  # one compilation for every (reference, lam, t)
    for i in (0, 1):
        lp, r = jnp.asarray(log_ref[i]), jnp.asarray(rewards[i])
        lpn, rn = np.asarray(log_ref[i]), np.asarray(rewards[i])
        big_lam = lambda s, lpn=lpn, rn=rn: np_lse(lpn + s * rn)  # noqa: E731  NumPy log-MGF
        for lam in config.renyi_lams:
            cgf = lambda t, lam=lam, lp=lp, r=r: cgf_at(t, lp, r, lam)  # noqa: E731
            for t0 in config.renyi_t0:
                out["renyi_cgf_one_term"].append(float(cgf(t0)))
                out["renyi_cgf_numpy"].append(big_lam(lam + t0) - big_lam(lam))
                w = np.exp(lpn + (lam + t0) * rn - big_lam(lam + t0))
                x = float(w @ rn)  # Lambda'(lam + t0): the mean under phi_{lam + t0}
                res = minimize_scalar(
                    lambda t, x=x, f=cgf: -(t * x - float(f(t))), bounds=(-1.0, 40.0), method="bounded",
                    options={"xatol": 1e-10},
                )  # fmt: skip
                out["renyi_rate_legendre"].append(-res.fun)
                out["renyi_rate_cramer"].append(float(tilted_rate_function(x, lp, r, lam)))
    return {k: np.asarray(v) for k, v in out.items()}


def _np_kl(log_p, log_q):
    """KL(p || q) in NumPy over the support of p (independent of kl_lab.divergences)."""
    log_p, log_q = np.broadcast_arrays(np.asarray(log_p), np.asarray(log_q))
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):  # 0 * (-inf) off the support, masked by the where
        return np.sum(np.where(p > 0, p * (log_p - np.where(p > 0, log_q, 0.0)), 0.0), axis=-1)


def _np_identity(results):
    """KL(pi_n || ref) - lam E_{pi_n} r + Lambda(lam), every term in NumPy (the tilting identity's right side)."""
    log_ref = results["log_ref"][:, None, :]
    r = results["rewards"][:, None, :]
    lam = results["lam"][..., None]
    log_pi = results["log_pi"]
    big_lam = logsumexp(np.where(np.isfinite(log_ref), log_ref + lam * r, -np.inf), axis=-1)
    mean_r = np.sum(np.exp(log_pi) * r, axis=-1)
    return _np_kl(log_pi, log_ref) - results["lam"] * mean_r + big_lam


def checks(results: dict, config: Config) -> Checks:
    reward, opt = results["reward"], results["opt_reward"]
    gap = opt - reward
    attained = _np_kl(results["opt_log_probs"], results["log_ref"][:, None, :])
    rounding = "float64: root-find tolerance 16 eps max(1, Delta) and rounding of 100-term sums of O(10) terms"
    tilting = "exponential tilting: D(q || p_lam) = D(q || p) - lam E_q r + Lambda(lam)"
    c = Checks(PAPER)
    c.close(
        "solver_converged", 1.0, float(np.mean(results["converged"])), atol=0.0, why="every root find must converge",
        claim="lam_Delta found at every budget", origin=derived("kl_lab.alignment.kl_rl_policy (root find in lam)"),
    )  # fmt: skip
    c.close(
        "budget_attained", results["kl"], attained, atol=1e-11, why=rounding,
        claim="KL(phi_Delta || ref), recomputed in NumPy from the returned policy, equals the budget Delta_n",
        origin=derived("core-papers-math.md section 2, Tilting [D]: lam Lambda'(lam) - Lambda(lam) increases in lam"),
    )  # fmt: skip
    c.upper_bound(
        "bon_never_beats_optimum", reward, opt, slack=1e-12, why="float64 rounding of 100-term sums",
        claim="E_{pi_n} r <= E_{phi_Delta_n} r at every n",
        origin=paper("abstract: phi_Delta maximises E_phi r subject to KL(phi || p) <= Delta"),
    )  # fmt: skip
    c.close(
        "near_optimality_identity", _np_identity(results), results["kl_to_opt"], atol=1e-10,
        why="difference of O(lam r) terms in float64 (lam <= ~1e3)",
        claim="kl_lab's KL(pi_n || phi_lam) = KL(pi_n||ref) - lam E r + Lambda(lam), right side in NumPy",
        origin=law(tilting),
    )  # fmt: skip
    c.close(
        "near_optimality_equality", results["lam"] * gap, results["kl_to_opt"], atol=1e-10,
        why="same rounding as the identity",
        claim="at equal KL, KL(pi_n || phi_Delta) = lam_Delta (E_phi r - E_{pi_n} r): the bound is attained",
        origin=derived("module docstring: the tilting identity with KL(pi_n || ref) = Delta_n = KL(phi || ref)"),
    )  # fmt: skip
    one_term = derived(
        "kl_lab.alignment.large_deviations.tilted_scaled_cgf_renyi_cross_entropy docstring (our one-term form; the "
        "abstract's 'proper Renyi cross entropy' normalisation is not established)"
    )
    c.close(
        "renyi_one_term_cgf", results["renyi_cgf_numpy"], results["renyi_cgf_one_term"], atol=1e-12,
        why="float64 log-sum-exp on both sides (NumPy vs kl_lab's Renyi cross entropy)",
        claim="(1/m) log E_phi e^{t r} = -t [H_{1+t}(phi_lam; q_r) - log Z_r]: one Renyi cross entropy of the tilt",
        origin=one_term,
    )  # fmt: skip
    c.close(
        "renyi_one_term_rate_function", results["renyi_rate_cramer"], results["renyi_rate_legendre"], atol=1e-8,
        why="scipy's bounded search to xatol 1e-10 in t: the sup is flat, so the value error is O(1e-20); 1e-8 "
        "covers the Cramer route's Newton tolerance",
        claim="the tilt's rate function I(x) (Cramer route) is the Legendre transform of the one-term Renyi "
        "cross-entropy form of its scaled CGF",
        origin=one_term,
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2) = plotting.subplots(1, 2)
    n = results["n"]
    for j, name in enumerate(results["names"]):
        c = plotting.PALETTE[j]
        fk, fr = results["frontier_kl"][j], results["frontier_reward"][j]
        keep = fk <= 1.05 * np.max(results["kl"][j])
        ax1.plot(fk[keep], fr[keep], color=c)
        ax1.plot(results["kl"][j], results["reward"][j], color=c, **plotting.sim_style)
        bound = results["lam"][j] * (results["opt_reward"][j] - results["reward"][j])
        dist = results["kl_to_opt"][j]
        show = (n >= 2) & (dist > 1e-13)  # below ~1e-13 the values are float64 rounding
        ax2.plot(n[show], dist[show], color=c, marker="o", linestyle="-", markersize=2.5, label=name)
        ax2.plot(n[show], bound[show], color=c, linestyle="--", linewidth=0.9)
    ax1.plot([], [], color="black", label="KL-RL optimum (tilt)")
    ax1.plot([], [], color="black", **plotting.sim_style, label="best-of-n, same KL")
    ax1.set(xlabel="KL(policy || ref)", ylabel="expected reward", title="reward-KL frontiers")
    ax1.legend(loc="lower right")
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="n",
        ylabel="KL(best-of-n || phi_Delta)",
        title="distance to the optimum (dashed: lam x reward gap)",
    )
    ax2.legend(fontsize=6, loc="lower left")
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
