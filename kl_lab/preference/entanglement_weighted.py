r"""Gradient entanglement with per-response derivative factors, and the normalised-gradient remedy.

Yuan et al. (arXiv 2410.13828v1) state the entanglement condition for a general margin loss whose margin
weighs the two log-probabilities differently, $m = a_w \log\pi_w - a_l \log\pi_l$ (DPO: $a_w = a_l = \beta$;
SimPO: $a_y = \beta/|y|$, the length normalisation). One gradient step on $\ell(m)$ moves $\theta$ by
$\eta c (a_w g_w - a_l g_l)$, $c = -\ell'(m) > 0$, so to first order

$$\Delta\log\pi_w = \eta c\, (a_w \|g_w\|^2 - a_l \langle g_w, g_l\rangle), \qquad
\Delta\log\pi_l = \eta c\, (a_w \langle g_w, g_l\rangle - a_l \|g_l\|^2);$$

both rise iff $a_l \|g_l\|^2 < a_w \langle g_w, g_l\rangle$ and $a_l \langle g_w, g_l\rangle < a_w \|g_w\|^2$,
and both fall iff both inequalities are reversed [D]; with $a_w = a_l$ this is
:mod:`kl_lab.preference.entanglement`'s condition. (The paper's general statement has the derivative factors
of the margin in these places; its exact notation was not retrieved.)

The normalised-gradient remedy steps along $g_w/\|g_w\| - g_l/\|g_l\|$: then
$\Delta\log\pi_w = \eta \|g_w\| (1 - \cos) \ge 0$ and $\Delta\log\pi_l = \eta \|g_l\| (\cos - 1) \le 0$,
$\cos = \langle g_w, g_l\rangle / (\|g_w\| \|g_l\|)$: the chosen response rises and the rejected one falls, to
first order, whatever the entanglement [D].

The second-order remainder of either change after $\theta \mathrel{+}= s\, d$ is at most
$\tfrac12 s^2 \|d\|^2 \max_y \|\phi(y) - \mathbb{E}_\pi\phi\|^2$ for the log-linear policy (same argument as
entanglement.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.preference.entanglement import EntanglementPrediction, loglinear_scores

__all__ = ["StepPrediction", "direction", "predict_step", "observe_step"]


StepPrediction = EntanglementPrediction  # the same fields: first-order changes, remainder bound, inner products


def direction(gw: jax.Array, gl: jax.Array, a_w, a_l, normalised: bool) -> jax.Array:
    r"""The update direction: $a_w g_w - a_l g_l$, or $g_w/\|g_w\| - g_l/\|g_l\|$ when ``normalised``.

    Args:
      gw: ``(D,)`` score ``g_w`` of the chosen response.
      gl: ``(D,)`` score ``g_l`` of the rejected response.
      a_w: margin weight of ``log pi_w``.
      a_l: margin weight of ``log pi_l``.
      normalised: use the normalised direction.

    Returns:
      ``(D,)`` direction.

    Example:
      >>> direction(jnp.array([3.0, 0.0]), jnp.array([0.0, 2.0]), 1.0, 1.0, normalised=True).tolist()
      [1.0, -1.0]
    """
    if normalised:
        return gw / jnp.linalg.norm(gw) - gl / jnp.linalg.norm(gl)
    return a_w * gw - a_l * gl


def predict_step(theta, features, w: int, l: int, step: float, a_w=1.0, a_l=1.0, normalised: bool = False):
    r"""First-order changes of $(\log\pi_w, \log\pi_l)$ for $\theta \mathrel{+}= s\, d$ ($d$ = :func:`direction`), with
    the remainder bound.

    $\Delta\log\pi_y = s\, \langle g_y, d\rangle$; remainder at most $\tfrac12 s^2 \|d\|^2 \max_y \|g_y\|^2$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(V, D)`` features ``phi(y)`` of the ``V`` responses.
      w: index of the chosen response.
      l: index of the rejected response.
      step: step ``s``.
      a_w: margin weight of ``log pi_w``.
      a_l: margin weight of ``log pi_l``.
      normalised: step along the normalised direction.

    Example:
      >>> pred = predict_step(jnp.zeros(2), jnp.eye(2), 0, 1, 0.1, normalised=True)
      >>> bool(pred.d_log_pi_w >= 0), bool(pred.d_log_pi_l <= 0)
      (True, True)
    """
    _, g = loglinear_scores(theta, features)
    gw, gl = g[w], g[l]
    d = direction(gw, gl, a_w, a_l, normalised)
    spread = jnp.max(jnp.sum(g**2, axis=1))
    bound = 0.5 * step**2 * jnp.sum(d**2) * spread
    return StepPrediction(step * (gw @ d), step * (gl @ d), bound, gw @ gl, gw @ gw, gl @ gl)


def observe_step(theta, features, w: int, l: int, step: float, a_w=1.0, a_l=1.0, normalised: bool = False):
    r"""Observed changes of $(\log\pi_w, \log\pi_l)$ after the step, the direction taken from ``jax.grad`` of the
    margin $a_w \log\pi_w - a_l \log\pi_l$ (or of the two log-probabilities separately, normalised).

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(V, D)`` features ``phi(y)`` of the ``V`` responses.
      w: index of the chosen response.
      l: index of the rejected response.
      step: step ``s``.
      a_w: margin weight of ``log pi_w``.
      a_l: margin weight of ``log pi_l``.
      normalised: step along the normalised direction.

    Example:
      >>> dw, dl = observe_step(jnp.zeros(2), jnp.eye(2), 0, 1, 0.1)
      >>> bool(dw > 0), bool(dl < 0)
      (True, True)
    """

    def logp(t, y):
        return loglinear_scores(t, features)[0][y]

    gw, gl = jax.grad(logp)(theta, w), jax.grad(logp)(theta, l)
    new = theta + step * direction(gw, gl, a_w, a_l, normalised)
    before, _ = loglinear_scores(theta, features)
    after, _ = loglinear_scores(new, features)
    return after[w] - before[w], after[l] - before[l]
