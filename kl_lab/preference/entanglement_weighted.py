"""Gradient entanglement with per-response derivative factors, and the normalised-gradient remedy.

Yuan et al. (arXiv 2410.13828v1) state the entanglement condition for a general margin loss whose margin
weighs the two log-probabilities differently, m = a_w log pi_w - a_l log pi_l (DPO: a_w = a_l = beta; SimPO:
a_y = beta / |y|, the length normalisation). One gradient step on l(m) moves theta by
eta c (a_w g_w - a_l g_l), c = -l'(m) > 0, so to first order

    d log pi_w = eta c (a_w ||g_w||^2 - a_l <g_w, g_l>)
    d log pi_l = eta c (a_w <g_w, g_l> - a_l ||g_l||^2)

both rise iff a_l ||g_l||^2 < a_w <g_w, g_l> and a_l <g_w, g_l> < a_w ||g_w||^2, and both fall iff both
inequalities are reversed [D]; with a_w = a_l this is :mod:`kl_lab.preference.entanglement`'s condition.
(The paper's general statement has the derivative factors of the margin in these places; its exact
notation was not retrieved.)

The normalised-gradient remedy steps along g_w / ||g_w|| - g_l / ||g_l||: then
d log pi_w = eta ||g_w|| (1 - cos) >= 0 and d log pi_l = eta ||g_l|| (cos - 1) <= 0, cos = <g_w, g_l> /
(||g_w|| ||g_l||): the chosen response rises and the rejected one falls, to first order, whatever the
entanglement [D].

The second-order remainder of either change after theta += s d is at most (1/2) s^2 ||d||^2
max_y ||phi(y) - E_pi phi||^2 for the log-linear policy (same argument as entanglement.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.preference.entanglement import EntanglementPrediction, loglinear_scores

__all__ = ["StepPrediction", "direction", "predict_step", "observe_step"]


StepPrediction = EntanglementPrediction  # the same fields: first-order changes, remainder bound, inner products


def direction(gw: jax.Array, gl: jax.Array, a_w, a_l, normalised: bool) -> jax.Array:
    """The update direction: a_w g_w - a_l g_l, or g_w / ||g_w|| - g_l / ||g_l|| when ``normalised``."""
    if normalised:
        return gw / jnp.linalg.norm(gw) - gl / jnp.linalg.norm(gl)
    return a_w * gw - a_l * gl


def predict_step(theta, features, w: int, l: int, step: float, a_w=1.0, a_l=1.0, normalised: bool = False):
    """First-order changes of (log pi_w, log pi_l) for theta += step * direction, with the remainder bound."""
    _, g = loglinear_scores(theta, features)
    gw, gl = g[w], g[l]
    d = direction(gw, gl, a_w, a_l, normalised)
    spread = jnp.max(jnp.sum(g**2, axis=1))
    bound = 0.5 * step**2 * jnp.sum(d**2) * spread
    return StepPrediction(step * (gw @ d), step * (gl @ d), bound, gw @ gl, gw @ gw, gl @ gl)


def observe_step(theta, features, w: int, l: int, step: float, a_w=1.0, a_l=1.0, normalised: bool = False):
    """Observed changes of (log pi_w, log pi_l) after the step, the direction taken from jax.grad of the margin
    a_w log pi_w - a_l log pi_l (or of the two log-probabilities separately, normalised)."""

    def logp(t, y):
        return loglinear_scores(t, features)[0][y]

    gw, gl = jax.grad(logp)(theta, w), jax.grad(logp)(theta, l)
    new = theta + step * direction(gw, gl, a_w, a_l, normalised)
    before, _ = loglinear_scores(theta, features)
    after, _ = loglinear_scores(new, features)
    return after[w] - before[w], after[l] - before[l]
