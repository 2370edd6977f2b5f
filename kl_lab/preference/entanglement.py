"""Gradient entanglement in margin-based preference optimisation.

Yuan et al., "A Common Pitfall of Margin-based Language Model Alignment:
Gradient Entanglement" (arXiv 2410.13828). For a margin loss l(m),
m = log pi_w - log pi_l, one gradient step moves theta by eta c (g_w - g_l)
with c = -l'(m) > 0 and g = grad_theta log pi. To first order

    d log pi_w = eta c (||g_w||^2 - <g_w, g_l>)
    d log pi_l = eta c (<g_w, g_l> - ||g_l||^2)

so both rise when ||g_l||^2 < <g_w, g_l> < ||g_w||^2 and both fall when
||g_w||^2 < <g_w, g_l> < ||g_l||^2 (derived from the abstract's statement;
the paper's exact conditions were not retrieved [D]).

For the log-linear policy pi(y) ∝ exp(<theta, phi(y)>), g_y = phi(y) - E_pi phi
and the Hessian of log pi(y) is -Cov_pi(phi), whose operator norm is at most
max_y ||phi(y) - E_pi phi||^2; so the second-order remainder of each change is
at most (1/2) (eta c)^2 ||g_w - g_l||^2 max_y ||phi(y) - E_pi phi||^2. Wherever
the first-order term exceeds that bound its sign is certain -- the experiment
checks the prediction exactly there.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import require_not_nan, validated

__all__ = ["EntanglementPrediction", "loglinear_scores", "predict_changes", "margin_step"]


class EntanglementPrediction(NamedTuple):
    d_log_pi_w: jax.Array  #: first-order change of log pi_w
    d_log_pi_l: jax.Array  #: first-order change of log pi_l
    remainder_bound: jax.Array  #: bound on the second-order remainder of either change
    inner: jax.Array  #: <g_w, g_l>
    norm_w2: jax.Array  #: ||g_w||^2
    norm_l2: jax.Array  #: ||g_l||^2


def loglinear_scores(theta: jax.Array, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """log pi (V,) and the score vectors g_y = phi(y) - E_pi phi (V, D) of pi ∝ exp(features @ theta)."""
    log_pi = jax.nn.log_softmax(features @ theta)
    mean_phi = jnp.exp(log_pi) @ features
    return log_pi, features - mean_phi[None, :]


@validated(step=require_not_nan)
def predict_changes(theta: jax.Array, features: jax.Array, w: int, l: int, step: float) -> EntanglementPrediction:
    """First-order changes of log pi_w, log pi_l for the step theta + step (g_w - g_l), with the remainder bound.

    ``step`` is eta c (learning rate times -l'(m)).
    """
    _, g = loglinear_scores(theta, features)
    gw, gl = g[w], g[l]
    inner, nw, nl = gw @ gl, gw @ gw, gl @ gl
    spread = jnp.max(jnp.sum(g**2, axis=1))
    bound = 0.5 * step**2 * jnp.sum((gw - gl) ** 2) * spread
    return EntanglementPrediction(step * (nw - inner), step * (inner - nl), bound, inner, nw, nl)


@validated(step=require_not_nan)
def margin_step(theta: jax.Array, features: jax.Array, w: int, l: int, step: float) -> tuple[jax.Array, jax.Array]:
    """Observed changes of (log pi_w, log pi_l) after theta <- theta + step grad_theta (log pi_w - log pi_l)."""

    def margin(t):
        lp, _ = loglinear_scores(t, features)
        return lp[w] - lp[l]

    new = theta + step * jax.grad(margin)(theta)
    before, _ = loglinear_scores(theta, features)
    after, _ = loglinear_scores(new, features)
    return after[w] - before[w], after[l] - before[l]
