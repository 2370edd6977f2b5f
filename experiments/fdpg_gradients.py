"""f-DPG: REINFORCE with pseudo-reward -f' estimates grad D_f(pi_theta || p), and the trade-off per f.

(a) On a tabular space of 50 outcomes, the Monte Carlo mean of
f'(pi(x)/p(x)) grad log pi(x), x ~ pi, against jax.grad of the exact D_f for
reverse KL(pi‖p) (the RLHF objective), forward KL(p‖pi) (DPG/GDC), JS, TV and
Pearson chi^2 (z-scores per coordinate); directed KLs are named by their arguments as in the paper
(kl_lab/preference/conventions.py).
(b) A restricted (rank-3 logit) policy class trained to minimise D_f(pi || p)
for the RLHF target p ∝ pi_0 exp(r / beta): alignment E_pi[r] against
diversity KL(pi || pi_0) per f. The abstract's "JS gives the best trade-off"
is shown, not asserted: the figure reports where each f lands.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from kl_lab import cli, experiment, plotting, stats
from kl_lab.checks import Checks, paper
from kl_lab.divergences import f_divergence, kl
from kl_lab.divergences import generators as G
from kl_lab.preference import conventions as cv
from kl_lab.preference import fdpo

TITLE = "f-DPG: REINFORCE with pseudo-reward -f' is the gradient of D_f(pi || p)"
PAPER = experiment.Paper(authors="Go et al.", year=2023, arxiv="2302.08215v2", where="Sec. 3 (f-DPG gradient)")
CLAIM = (
    "grad D_f(pi_theta || p) = E_pi[f'(pi/p) grad log pi] for every f; "
    "the choice of f sets the alignment-diversity trade-off."
)
RUNTIME = "30 s"


def _generators():
    # directed KLs named by their arguments (kl_lab/preference/conventions.py): Go et al.'s "reverse KL" is
    # KL(pi || p), the RLHF objective (generator u log u); their "forward KL" is KL(p || pi), DPG/GDC (-log u)
    return {
        cv.kl_label("reverse KL"): cv.kl_generator("reverse KL"),
        cv.kl_label("forward KL"): cv.kl_generator("forward KL"),
        "JS": G.jensen_shannon,
        "TV": G.total_variation,
        "chi^2": G.pearson,
    }


@dataclasses.dataclass(frozen=True)
class Config:
    outcomes: int = 50
    samples: int = 200_000
    beta: float = 0.2
    rank: int = 3
    train_steps: int = 2000

    @classmethod
    def quick(cls) -> Config:
        return cls(samples=100_000, train_steps=300)  # 2 % errors of the gradient are > 4.5 SE (KL)


def _train(loss, steps: int):
    """A jitted Adam loop minimising ``loss`` over the rank-r logit weights."""
    opt = optax.adam(0.05)

    @jax.jit
    def train(w):
        def step(c, _):
            w, s = c
            u, s = opt.update(jax.grad(loss)(w), s)
            return (optax.apply_updates(w, u), s), None

        (w, _), _ = jax.lax.scan(step, (w, opt.init(w)), None, length=steps)
        return w

    return train


def run(config: Config, key: jax.Array) -> dict:
    k_pi, k_p, k_r, k_u, k_mc = jax.random.split(key, 5)
    n = config.outcomes
    logits = jax.random.normal(k_pi, (n,))
    log_pi0 = jax.nn.log_softmax(jax.random.normal(k_p, (n,)))
    r = jax.random.uniform(k_r, (n,))
    log_target = jax.nn.log_softmax(log_pi0 + r / config.beta)
    basis = jax.random.normal(k_u, (n, config.rank))
    out = {"r": r}
    for name, gen in _generators().items():

        @jax.jit
        def one(k_mc, gen=gen):  # every quantity of one f: one compilation instead of one per eager operation
            def loss(w):
                return f_divergence(jax.nn.log_softmax(log_pi0 + basis @ w), log_target, gen)

            w = _train(loss, config.train_steps)(jnp.zeros(config.rank))
            lp = jax.nn.log_softmax(log_pi0 + basis @ w)
            return {
                "exact": fdpo.fdpg_gradient_exact(logits, log_target, gen),
                "samples": fdpo.fdpg_reinforce_samples(k_mc, logits, log_target, gen, config.samples),
                "reward": jnp.sum(jnp.exp(lp) * r),
                "kl_to_pi0": kl(lp, log_pi0),
            }

        res = one(k_mc)
        out[f"{name}|mc"], out[f"{name}|se"] = stats.mean_se(np.asarray(res.pop("samples")))  # ddof = 1 (kl_lab.stats)
        out.update({f"{name}|{k}": v for k, v in res.items()})
    out["target_reward"] = jnp.sum(jnp.exp(log_target) * r)
    out["target_kl"] = kl(log_target, log_pi0)
    return jax.tree_util.tree_map(np.asarray, out)


def checks(results: dict, config: Config) -> Checks:
    c = Checks(PAPER)
    for name in _generators():
        ex, mc, se = results[f"{name}|exact"], results[f"{name}|mc"], results[f"{name}|se"]
        c.within_se(
            f"reinforce_unbiased[{name}]", ex, mc, np.maximum(se, 1e-300), z=4.5, why="Monte Carlo over 50 coordinates",
            claim=f"E[f'(pi/p) grad log pi] = grad D_f ({name})", origin=paper("Sec. 3 (f-DPG gradient)"),
        )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2) = plotting.subplots(1, 2)
    for i, name in enumerate(_generators()):
        ex, mc, se = results[f"{name}|exact"], results[f"{name}|mc"], results[f"{name}|se"]
        ax1.errorbar(ex, mc, 2 * se, color=plotting.PALETTE[i], label=name, **plotting.sim_style)
        ax2.scatter(
            results[f"{name}|kl_to_pi0"], results[f"{name}|reward"], color=plotting.PALETTE[i], label=name, s=20
        )
    lim = np.max(np.abs([results[f"{n}|exact"] for n in _generators()]))
    ax1.plot([-lim, lim], [-lim, lim], **plotting.theory_style, label="y = x")
    ax1.set(xlabel="exact gradient (jax.grad)", ylabel="REINFORCE estimate (±2 SE)", title="f-DPG gradient")
    ax1.legend(fontsize=6)
    ax2.scatter([results["target_kl"]], [results["target_reward"]], marker="*", color="black", s=60, label="target p")
    ax2.set(
        xlabel="reverse KL(pi‖pi_0) (diversity lost)",
        ylabel="E_pi[r] (alignment)",
        title=f"rank-{config.rank} policy: where each f lands",
    )
    ax2.legend(fontsize=6)
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
