"""Gradient entanglement: first-order predictions of how log pi_w and log pi_l move under a margin step.

Random log-linear softmax policies (V outcomes, D features) and random
preference pairs; one small step on the margin log pi_w - log pi_l. The
first-order changes eta c (||g_w||^2 - <g_w,g_l>) and eta c (<g_w,g_l> - ||g_l||^2)
are compared with the observed changes. Checks: where the first-order term
exceeds the certified second-order remainder bound (entanglement.py) the
predicted sign is always right; the observed changes agree with the
predictions to within that bound; both-up and both-down cases occur exactly
in the predicted regions of the (<g_w,g_l>/||g_w||^2, <g_w,g_l>/||g_l||^2) plane.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import cli, experiment, plotting
from kl_lab.checks import Checks, derived
from kl_lab.preference import entanglement as ent
from kl_lab.preference import entanglement_weighted as entw
from kl_lab.sweep import sweep

TITLE = "Gradient entanglement: both log-probabilities can rise (or fall) under a margin loss"
PAPER = experiment.Paper(
    authors="Yuan et al.", year=2024, arxiv="2410.13828v1", where="abstract; conditions derived [D]"
)
CLAIM = (
    "A margin step raises both log pi_w and log pi_l when ||g_l||^2 < <g_w,g_l> < ||g_w||^2 and lowers both when "
    "||g_w||^2 < <g_w,g_l> < ||g_l||^2 (first order, certified where the remainder bound allows)."
)
RUNTIME = "15 s"


@dataclasses.dataclass(frozen=True)
class Config:
    vocab: int = 20
    features: int = 5
    pairs: int = 4000
    step: float = 1e-3
    shared_prefix: float = 0.8  # phi(l) = s phi(w) + (1 - s) noise: inflates <g_w, g_l> as a shared prefix does
    min_len: int = 5  # response lengths for SimPO's 1/|y| factors
    max_len: int = 50

    @classmethod
    def quick(cls) -> Config:
        return cls(pairs=400)


def run(config: Config, key: jax.Array) -> dict:
    def point(p):
        k1, k2, k3, k4 = jax.random.split(p["key"], 4)
        theta = jax.random.normal(k1, (config.features,))
        feats = jax.random.normal(k2, (config.vocab, config.features))
        # half the pairs share a "prefix": the rejected response's features lean on the chosen one's
        s = jnp.where(p["shared"], config.shared_prefix, 0.0)
        feats = feats.at[1].set(s * feats[0] + (1 - s) * feats[1] + 0.1 * jax.random.normal(k3, (config.features,)))
        pred = ent.predict_changes(theta, feats, 0, 1, config.step)
        dw, dl = ent.margin_step(theta, feats, 0, 1, config.step)
        # SimPO-like length normalisation: a_y = 1 / |y|, lengths uniform on [min_len, max_len]
        lengths = jax.random.randint(k4, (2,), config.min_len, config.max_len + 1)
        aw, al = 1.0 / lengths[0], 1.0 / lengths[1]
        sstep = config.step * config.max_len  # the same step scale as DPO's for the longest responses
        wp = entw.predict_step(theta, feats, 0, 1, sstep, aw, al)
        wdw, wdl = entw.observe_step(theta, feats, 0, 1, sstep, aw, al)
        npred = entw.predict_step(theta, feats, 0, 1, config.step, normalised=True)
        ndw, ndl = entw.observe_step(theta, feats, 0, 1, config.step, normalised=True)
        return {
            **pred._asdict(), "obs_w": dw, "obs_l": dl, "a_w": aw, "a_l": al,
            "w_pred_w": wp.d_log_pi_w, "w_pred_l": wp.d_log_pi_l, "w_bound": wp.remainder_bound,
            "w_obs_w": wdw, "w_obs_l": wdl,
            "n_pred_w": npred.d_log_pi_w, "n_pred_l": npred.d_log_pi_l, "n_bound": npred.remainder_bound,
            "n_obs_w": ndw, "n_obs_l": ndl,
        }  # fmt: skip

    keys = jax.random.split(key, config.pairs)
    out = sweep(point, {"key": keys, "shared": np.arange(config.pairs) % 2 == 0}, name="pairs")
    return out


def _regions(inner, nw, nl, aw=1.0, al=1.0):
    """First-order both-up and both-down regions of the (weighted) condition (entanglement_weighted.py)."""
    up = (al * nl < aw * inner) & (al * inner < aw * nw)
    down = (al * nl > aw * inner) & (al * inner > aw * nw)
    return up, down


def checks(results: dict, config: Config) -> Checks:
    r = results
    pw, pl, ow, ol, b = (r[k] for k in ("d_log_pi_w", "d_log_pi_l", "obs_w", "obs_l", "remainder_bound"))
    certain = (np.abs(pw) > b) & (np.abs(pl) > b)
    agree = (np.sign(pw) == np.sign(ow)) & (np.sign(pl) == np.sign(ol))
    inner, nw, nl = r["inner"], r["norm_w2"], r["norm_l2"]
    region_up, region_down = _regions(inner, nw, nl)
    obs_up, obs_down = (ow > 0) & (ol > 0), (ow < 0) & (ol < 0)
    # SimPO-like weights a_y = 1/|y|
    wc = (np.abs(r["w_pred_w"]) > r["w_bound"]) & (np.abs(r["w_pred_l"]) > r["w_bound"])
    w_up, w_down = _regions(inner, nw, nl, r["a_w"], r["a_l"])
    wo_up, wo_down = (r["w_obs_w"] > 0) & (r["w_obs_l"] > 0), (r["w_obs_w"] < 0) & (r["w_obs_l"] < 0)
    # normalised-gradient remedy
    nc = (np.abs(r["n_pred_w"]) > r["n_bound"]) & (np.abs(r["n_pred_l"]) > r["n_bound"])
    first_order = derived("kl_lab/preference/entanglement.py: first-order changes under a margin step")
    weighted = derived("kl_lab/preference/entanglement_weighted.py: the condition with per-response factors a_w, a_l")
    remedy = derived(
        "kl_lab/preference/entanglement_weighted.py: normalised gradients, d log pi_w = eta ||g_w|| (1 - cos)"
    )
    taylor = derived("kl_lab/preference/entanglement.py: certified second-order Taylor remainder bound")
    c = Checks(PAPER)
    c.holds(
        "sign_certain_where_certified", agree[certain],
        claim="predicted directions are right wherever |first order| > remainder", origin=taylor,
    )  # fmt: skip
    c.upper_bound(
        "changes_within_remainder",
        np.abs(np.concatenate([ow - pw, ol - pl, r["w_obs_w"] - r["w_pred_w"], r["w_obs_l"] - r["w_pred_l"],
                               r["n_obs_w"] - r["n_pred_w"], r["n_obs_l"] - r["n_pred_l"]])),
        np.concatenate([b, b, r["w_bound"], r["w_bound"], r["n_bound"], r["n_bound"]]), slack=1e-15,
        why="float64 rounding", claim="|observed - first order| <= remainder bound (all three steps, both log-probs)",
        origin=taylor,
    )  # fmt: skip
    c.holds(
        "observed_both_up_iff_condition", (obs_up == region_up)[certain] & (obs_down == region_down)[certain],
        claim="after a real gradient step (certified pairs): both rise iff ||g_l||^2 < <g_w,g_l> < ||g_w||^2, "
        "both fall iff the reverse", origin=first_order,
    )  # fmt: skip
    c.lower_bound(
        "entanglement_occurs", float(min((obs_up & certain).sum(), (obs_down & certain).sum())), 1.0,
        why="a count: at least one certified case of each",
        claim="both-up and both-down are observed among the certified random pairs", origin=first_order,
    )  # fmt: skip
    c.holds(
        "weighted_condition_predicts_simpo_step", (wo_up == w_up)[wc] & (wo_down == w_down)[wc],
        claim="with SimPO's factors a_y = 1/|y| the observed both-up/both-down pairs are those of the weighted "
        "condition (certified pairs)", origin=weighted,
    )  # fmt: skip
    c.lower_bound(
        "factors_change_the_region", float(((w_up != region_up) & wc).sum()), 1.0,
        why="a count: at least one certified pair where the unweighted condition gives the wrong answer",
        claim="the per-response factors matter: the unweighted condition misclassifies some SimPO steps",
        origin=weighted,
    )  # fmt: skip
    c.holds(
        "normalised_step_disentangles", (r["n_obs_w"] > 0)[nc] & (r["n_obs_l"] < 0)[nc],
        claim="with normalised gradients the chosen log-prob rises and the rejected one falls (certified pairs)",
        origin=remedy,
    )  # fmt: skip
    c.lower_bound(
        "normalised_step_certified_on_entangled_pairs", float((nc & (obs_up | obs_down)).sum()), 1.0,
        why="a count: the remedy is tested on at least one pair the plain step entangles",
        claim="the normalised step is certified on pairs where the margin step moved both log-probs together",
        origin=remedy,
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, ax = plotting.subplots()
    inner, nw, nl = results["inner"], results["norm_w2"], results["norm_l2"]
    ow, ol = results["obs_w"], results["obs_l"]
    x, y = inner / nw, inner / nl
    cats = [
        ((ow > 0) & (ol > 0), "both rise", 1),
        ((ow < 0) & (ol < 0), "both fall", 3),
        ((ow > 0) & (ol < 0), "w up, l down (intended)", 0),
        ((ow < 0) & (ol > 0), "w down, l up", 4),
    ]
    for mask, label, c in cats:
        ax.scatter(x[mask], y[mask], s=4, color=plotting.PALETTE[c], label=f"{label} ({mask.sum()})")
    ax.axvline(1, **plotting.theory_style)
    ax.axhline(1, **plotting.theory_style)
    ax.set(
        xlabel="<g_w,g_l> / ||g_w||^2",
        ylabel="<g_w,g_l> / ||g_l||^2",
        xlim=(-2, 3),
        ylim=(-2, 3),
        title="observed directions; dashed: predicted boundaries",
    )
    ax.legend(fontsize=6, markerscale=2)
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
