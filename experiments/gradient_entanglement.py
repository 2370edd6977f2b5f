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

from kl_lab import experiment, plotting
from kl_lab.checks import Checks, derived
from kl_lab.preference import entanglement as ent
from kl_lab.sweep import sweep

TITLE = "Gradient entanglement: both log-probabilities can rise (or fall) under a margin loss"
PAPER = experiment.Paper(authors="Yuan et al.", year=2024, arxiv="2410.13828", where="abstract; conditions derived [D]")
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

    @classmethod
    def quick(cls) -> Config:
        return cls(pairs=400)


def run(config: Config, key: jax.Array) -> dict:
    def point(p):
        k1, k2, k3 = jax.random.split(p["key"], 3)
        theta = jax.random.normal(k1, (config.features,))
        feats = jax.random.normal(k2, (config.vocab, config.features))
        # half the pairs share a "prefix": the rejected response's features lean on the chosen one's
        s = jnp.where(p["shared"], config.shared_prefix, 0.0)
        feats = feats.at[1].set(s * feats[0] + (1 - s) * feats[1] + 0.1 * jax.random.normal(k3, (config.features,)))
        pred = ent.predict_changes(theta, feats, 0, 1, config.step)
        dw, dl = ent.margin_step(theta, feats, 0, 1, config.step)
        return {**pred._asdict(), "obs_w": dw, "obs_l": dl}

    keys = jax.random.split(key, config.pairs)
    out = sweep(point, {"key": keys, "shared": np.arange(config.pairs) % 2 == 0}, name="pairs")
    return out


def checks(results: dict, config: Config) -> Checks:
    pw, pl, ow, ol, b = (results[k] for k in ("d_log_pi_w", "d_log_pi_l", "obs_w", "obs_l", "remainder_bound"))
    certain = (np.abs(pw) > b) & (np.abs(pl) > b)
    agree = (np.sign(pw) == np.sign(ow)) & (np.sign(pl) == np.sign(ol))
    both_up = (pw > 0) & (pl > 0)
    both_down = (pw < 0) & (pl < 0)
    inner, nw, nl = results["inner"], results["norm_w2"], results["norm_l2"]
    region_up = (nl < inner) & (inner < nw)
    first_order = derived("other-papers-checks.md section 7: first-order changes under a margin step")
    taylor = derived("kl_lab/preference/entanglement.py: certified second-order Taylor remainder bound")
    c = Checks(PAPER)
    c.close(
        "sign_certain_where_certified", 1.0, float(agree[certain].mean()), atol=0.0,
        why="certified by the remainder bound: no slack",
        claim="predicted directions are right wherever |first order| > remainder", origin=taylor,
    )  # fmt: skip
    c.upper_bound(
        "changes_within_remainder", np.abs(np.concatenate([ow - pw, ol - pl])), np.concatenate([b, b]), slack=1e-15,
        why="float64 rounding", claim="|observed - first order| <= remainder bound (both log-probs)", origin=taylor,
    )  # fmt: skip
    c.close(
        "both_up_region", 0.0, float(np.mean(both_up != region_up)), atol=0.0,
        why="algebraic identity of the first-order terms",
        claim="first-order both-up iff ||g_l||^2 < <g_w,g_l> < ||g_w||^2", origin=first_order,
    )  # fmt: skip
    c.lower_bound(
        "entanglement_occurs", float(min(both_up.sum(), both_down.sum())), 1.0,
        why="a count: at least one case of each",
        claim="both-up and both-down cases both occur among the random pairs", origin=first_order,
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
    raise SystemExit(experiment.main(__file__))
