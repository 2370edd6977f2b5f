"""DPO on low-separation pairs in an exact token-level softmax model, and a TAB-PO-style barrier.

A sequence of T positions, each a log-linear softmax with one shared parameter; chosen and rejected
completions differ in 1-3 tokens (the chosen one is the reference's most likely sequence). Checks: the
margin's gradient is the differing tokens' alone (shared tokens cancel exactly); the first-order changes
of both sequence log-probabilities match a real step within the certified remainder, and the fraction of
pairs whose two log-probabilities move in the same direction rises to 1 with the number of shared
tokens (likelihood squeezing); in DPO training both likelihoods fall together in many pairs; token
weights on the differing tokens only rescale beta here; the barrier of our TAB-PO hypothesis stops the
chosen likelihood from falling.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import cli, experiment, plotting
from kl_lab.checks import Checks, derived, hypothesis, paper
from kl_lab.preference import tab_po as tp

TITLE = "TAB-PO: likelihood squeezing of DPO on 1-3-token pairs, and a token-level barrier"
PAPER = experiment.Paper(
    authors="Fodeh et al.", year=2026, arxiv="2603.00025v1", where="abstract (only the abstract was available)"
)
CLAIM = (
    "When chosen and rejected differ in 1-3 tokens, the shared tokens' gradients cancel and DPO moves both "
    "absolute likelihoods together; a barrier on under-confident chosen tokens stops the chosen likelihood falling."
)
RUNTIME = "1 min"


@dataclasses.dataclass(frozen=True)
class Config:
    vocab: int = 8
    dim: int = 6
    ref_scale: float = 0.5
    lengths: tuple = (4, 16, 64, 256)  # sequence lengths for the first-order analysis
    pairs: int = 2000  # random pairs per length (first order)
    step: float = 1e-3  # the margin step s
    train_length: int = 16
    train_pairs: int = 200
    steps: int = 200
    beta: float = 0.5
    lr: float = 0.1
    semantic_weight: float = 5.0  # omega on the differing tokens (1 elsewhere)
    barrier: float = 1.0

    @classmethod
    def quick(cls) -> Config:
        return cls(lengths=(4, 64), pairs=200, train_pairs=30, steps=60)


def _instances(rng: np.random.Generator, n: int, length: int, config: Config):
    """n random pairs: features, reference parameters, chosen (the reference's mode) and rejected (1-3 swaps)."""
    f = rng.standard_normal((n, length, config.vocab, config.dim))
    theta = config.ref_scale * rng.standard_normal((n, config.dim))
    y_w = np.argmax(np.einsum("ntvd,nd->ntv", f, theta), axis=-1)
    k = rng.integers(1, 4, size=n)
    differ = np.stack([rng.permutation(length) < k[i] for i in range(n)])
    alt = (y_w + rng.integers(1, config.vocab, size=y_w.shape)) % config.vocab
    return f, theta, y_w, np.where(differ, alt, y_w)


def run(config: Config, key: jax.Array) -> dict:
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())

    def first_order(f, th, yw, yl):
        pred = tp.squeeze_prediction(th, f, yw, yl, config.step)
        d = tp.margin_gradient(th, f, yw, yl)
        auto = jax.grad(lambda t: tp.token_log_probs(t, f, yw).sum() - tp.token_log_probs(t, f, yl).sum())(th)
        new = th + config.step * d
        obs_w = tp.token_log_probs(new, f, yw).sum() - tp.token_log_probs(th, f, yw).sum()
        obs_l = tp.token_log_probs(new, f, yl).sum() - tp.token_log_probs(th, f, yl).sum()
        return {**pred._asdict(), "obs_w": obs_w, "obs_l": obs_l, "grad_err": jnp.max(jnp.abs(auto - d)),
                "grad_norm": jnp.max(jnp.abs(d))}  # fmt: skip

    out = {}
    fo = jax.jit(jax.vmap(first_order))
    for length in config.lengths:
        res = fo(*_instances(rng, config.pairs, length, config))
        for name, v in res.items():
            out.setdefault(name, []).append(v)
    out = {k: jnp.stack(v) for k, v in out.items()}  # (lengths, pairs)

    def train(f, th, yw, yl, p):
        w = jnp.where(yw != yl, p[1], 1.0)
        tr = tp.train_pair(th, f, yw, yl, beta=p[0], lr=config.lr, steps=config.steps, weights=w, barrier=p[2])
        return tr.log_pi_w, tr.log_pi_l

    b, ws, lam = config.beta, config.semantic_weight, config.barrier
    names = ("dpo", "dpo_scaled", "weighted", "tab_po")
    params = jnp.array([(b, 1.0, 0.0), (b * ws, 1.0, 0.0), (b, ws, 0.0), (b, ws, lam)])
    per_pair = jax.vmap(train, in_axes=(0, 0, 0, 0, None))
    inst = _instances(rng, config.train_pairs, config.train_length, config)
    lw, lL = jax.jit(jax.vmap(per_pair, in_axes=(None, None, None, None, 0)))(
        *inst, params
    )  # (variants, pairs, steps+1)
    for i, name in enumerate(names):
        out[f"{name}_log_pi_w"], out[f"{name}_log_pi_l"] = lw[i], lL[i]
    out["lengths"] = jnp.asarray(config.lengths)
    return out


def _fraction_se(x):
    p = float(np.mean(x))
    return p, max(np.sqrt(p * (1 - p) / x.size), 0.5 / x.size)


def checks(results: dict, config: Config) -> Checks:
    r = {k: np.asarray(v) for k, v in results.items()}
    cancel = derived("kl_lab/preference/tab_po.py docstring: shared tokens cancel in the margin's gradient")
    squeeze = derived("kl_lab/preference/tab_po.py docstring: first-order changes with a common shared-token term")
    model = hypothesis("TAB-PO loss of kl_lab/preference/tab_po.py (abstract only: weights and barrier are ours)")
    c = Checks(PAPER)
    c.upper_bound(
        "shared_tokens_cancel", r["grad_err"], 1e-11 * np.maximum(1.0, r["grad_norm"]), slack=0.0,
        why="float64 rounding of sums over up to 256 positions",
        claim="autodiff of the sequence margin equals the differing tokens' score differences alone", origin=cancel,
    )  # fmt: skip
    err = np.abs(np.concatenate([r["obs_w"] - r["d_log_pi_w"], r["obs_l"] - r["d_log_pi_l"]]))
    c.upper_bound(
        "first_order_within_remainder", err, np.concatenate([r["remainder_bound"]] * 2), slack=1e-13,
        why="float64 rounding", claim="|observed - first order| <= certified remainder for both log-probs",
        origin=squeeze,
    )  # fmt: skip
    same = np.sign(r["obs_w"]) == np.sign(r["obs_l"])
    frac = same.mean(axis=1)
    c.holds(
        "squeezing_grows_with_shared_tokens", np.diff(frac) > 0,
        claim="the fraction of pairs whose two log-probs move in the same direction rises with the sequence length",
        origin=squeeze,
    )  # fmt: skip
    p_last, se_last = _fraction_se(same[-1])
    c.lower_bound(
        "likelihoods_move_together", p_last, 0.9, slack=3 * se_last,
        why=f"3 binomial standard errors ({se_last:.3g})",
        claim=f"at T = {config.lengths[-1]} (1-3 differing tokens) a margin step moves both likelihoods the same way "
        "in >= 90% of pairs", origin=paper("abstract (v1): likelihood squeezing"),
    )  # fmt: skip
    dw = r["dpo_log_pi_w"][:, -1] - r["dpo_log_pi_w"][:, 0]
    dl = r["dpo_log_pi_l"][:, -1] - r["dpo_log_pi_l"][:, 0]
    c.holds(
        "dpo_margin_grows", (dw - dl) > 0, claim="DPO training raises the margin of every pair",
        origin=derived("gradient descent on -log sigmoid(beta m) decreases the loss, a decreasing function of m"),
    )  # fmt: skip
    both, se_both = _fraction_se((dw < 0) & (dl < 0))
    c.lower_bound(
        "dpo_squeezes_both_down", both, 0.2, slack=3 * se_both, why=f"3 binomial standard errors ({se_both:.3g})",
        claim="in DPO training both likelihoods fall in a sizeable fraction (>= 20%) of low-separation pairs",
        origin=paper("abstract (v1): the margin objective shifts the absolute likelihoods of both completions"),
    )  # fmt: skip
    c.close(
        "weights_only_rescale_beta", r["weighted_log_pi_w"], r["dpo_scaled_log_pi_w"], rtol=1e-9,
        why="float64 rounding along the trajectory; the two losses are identical functions",
        claim="with weight omega on the differing tokens and no barrier, the trajectory is DPO's with beta omega",
        origin=cancel,
    )  # fmt: skip
    tw = r["tab_po_log_pi_w"][:, -1] - r["tab_po_log_pi_w"][:, 0]
    fell_tab, se_tab = _fraction_se(tw < 0)
    fell_dpo, _ = _fraction_se(dw < 0)
    c.upper_bound(
        "barrier_keeps_chosen_likelihood", fell_tab, fell_dpo - 3 * se_both, slack=0.0,
        why="3 binomial standard errors below DPO's fraction",
        claim="with the barrier the chosen likelihood falls in fewer pairs than under DPO", origin=model,
    )  # fmt: skip
    tm = (r["tab_po_log_pi_w"] - r["tab_po_log_pi_l"])[:, -1] - (r["tab_po_log_pi_w"] - r["tab_po_log_pi_l"])[:, 0]
    c.holds(
        "barrier_keeps_separation", tm > 0,
        claim="with the barrier the margin still grows in every pair", origin=model,
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    r = {k: np.asarray(v) for k, v in results.items()}
    fig, (a1, a2) = plotting.subplots(1, 2, width=3.4, height=2.8)
    same = (np.sign(r["obs_w"]) == np.sign(r["obs_l"])).mean(axis=1)
    a1.plot(r["lengths"], same, "o-", color=plotting.PALETTE[0], label="observed")
    a1.set(xscale="log", xlabel="sequence length T (1-3 differing tokens)", ylabel="fraction",
           title="both log-probs move the same way", ylim=(0, 1.02))  # fmt: skip
    for i, (name, label) in enumerate([("dpo", "DPO"), ("weighted", "token weights"), ("tab_po", "weights+barrier")]):
        dw = r[f"{name}_log_pi_w"] - r[f"{name}_log_pi_w"][:, :1]
        dl = r[f"{name}_log_pi_l"] - r[f"{name}_log_pi_l"][:, :1]
        a2.scatter(dw[:, -1], dl[:, -1], s=6, color=plotting.PALETTE[i], label=label)
    a2.axhline(0, **plotting.theory_style)
    a2.axvline(0, **plotting.theory_style)
    a2.set(xlabel="change of log pi(chosen)", ylabel="change of log pi(rejected)", title="after training",
           xscale="symlog", yscale="symlog")  # fmt: skip
    a2.legend(fontsize=6)
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
