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
from kl_lab.checks import check
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


def checks(results: dict, config: Config) -> list:
    src = PAPER.cite()
    pw, pl, ow, ol, b = (results[k] for k in ("d_log_pi_w", "d_log_pi_l", "obs_w", "obs_l", "remainder_bound"))
    certain = (np.abs(pw) > b) & (np.abs(pl) > b)
    agree = (np.sign(pw) == np.sign(ow)) & (np.sign(pl) == np.sign(ol))
    both_up = (pw > 0) & (pl > 0)
    both_down = (pw < 0) & (pl < 0)
    inner, nw, nl = results["inner"], results["norm_w2"], results["norm_l2"]
    region_up = (nl < inner) & (inner < nw)
    return [
        check(
            "sign_certain_where_certified",
            claim="predicted directions are right wherever |first order| > remainder",
            source=src,
            kind="abs",
            predicted=1.0,
            measured=float(agree[certain].mean()),
            tolerance=0.0,
            reason="certified by the remainder bound: no slack",
        ),
        check(
            "changes_within_remainder",
            claim="|observed - first order| <= remainder bound (both log-probs)",
            source="Taylor bound in entanglement.py",
            kind="bound",
            predicted=np.concatenate([b, b]),
            measured=np.abs(np.concatenate([ow - pw, ol - pl])),
            tolerance=1e-15,
            reason="float64 rounding",
        ),
        check(
            "both_up_region",
            claim="first-order both-up iff ||g_l||^2 < <g_w,g_l> < ||g_w||^2",
            source=src,
            kind="abs",
            predicted=0.0,
            measured=float(np.mean(both_up != region_up)),
            tolerance=0.0,
            reason="algebraic identity of the first-order terms",
        ),
        check(
            "entanglement_occurs",
            claim="both-up and both-down cases both occur among the random pairs",
            source=src,
            kind="bound",
            direction="lower",
            predicted=1.0,
            measured=float(min(both_up.sum(), both_down.sum())),
            tolerance=0.0,
            reason="a count: at least one case of each",
        ),
    ]


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
