r"""Gradient entanglement in margin-based preference optimisation.

Yuan et al., "A Common Pitfall of Margin-based Language Model Alignment:
Gradient Entanglement" (arXiv 2410.13828). For a margin loss $\ell(m)$,
$m = \log\pi_w - \log\pi_l$, one gradient step moves $\theta$ by $\eta c (g_w - g_l)$
with $c = -\ell'(m) > 0$ and $g = \nabla_\theta \log\pi$. To first order

$$\Delta \log\pi_w = \eta c\, (\|g_w\|^2 - \langle g_w, g_l\rangle), \qquad
\Delta \log\pi_l = \eta c\, (\langle g_w, g_l\rangle - \|g_l\|^2),$$

so both rise when $\|g_l\|^2 < \langle g_w, g_l\rangle < \|g_w\|^2$ and both fall when
$\|g_w\|^2 < \langle g_w, g_l\rangle < \|g_l\|^2$ (derived from the abstract's statement;
the paper's exact conditions were not retrieved [D]).

For the log-linear policy $\pi(y) \propto \exp\langle\theta, \phi(y)\rangle$, $g_y = \phi(y) - \mathbb{E}_\pi\phi$
and the Hessian of $\log\pi(y)$ is $-\mathrm{Cov}_\pi(\phi)$, whose operator norm is at most
$\max_y \|\phi(y) - \mathbb{E}_\pi\phi\|^2$; so the second-order remainder of each change is
at most $\tfrac12 (\eta c)^2 \|g_w - g_l\|^2 \max_y \|\phi(y) - \mathbb{E}_\pi\phi\|^2$. Wherever
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
    r"""First-order changes $\Delta\log\pi_w$, $\Delta\log\pi_l$, the bound on their second-order remainder, and
    $\langle g_w, g_l\rangle$, $\|g_w\|^2$, $\|g_l\|^2$ (module docstring).

    Example:
      >>> EntanglementPrediction._fields[:2]
      ('d_log_pi_w', 'd_log_pi_l')
    """

    d_log_pi_w: jax.Array  #: first-order change of log pi_w
    d_log_pi_l: jax.Array  #: first-order change of log pi_l
    remainder_bound: jax.Array  #: bound on the second-order remainder of either change
    inner: jax.Array  #: <g_w, g_l>
    norm_w2: jax.Array  #: ||g_w||^2
    norm_l2: jax.Array  #: ||g_l||^2


def loglinear_scores(theta: jax.Array, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""$\log\pi$ $(V,)$ and the score vectors $g_y = \phi(y) - \mathbb{E}_\pi\phi$ $(V, D)$ of
    $\pi \propto \exp(\text{features}\,\theta)$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(V, D)`` features ``phi(y)`` of the ``V`` responses.

    Example:
      >>> log_pi, g = loglinear_scores(jnp.zeros(2), jnp.eye(2))
      >>> jnp.round(jnp.exp(log_pi), 6).tolist(), jnp.round(g, 6).tolist()
      ([0.5, 0.5], [[0.5, -0.5], [-0.5, 0.5]])
    """
    log_pi = jax.nn.log_softmax(features @ theta)
    mean_phi = jnp.exp(log_pi) @ features
    return log_pi, features - mean_phi[None, :]


@validated(step=require_not_nan)
def predict_changes(theta: jax.Array, features: jax.Array, w: int, l: int, step: float) -> EntanglementPrediction:
    r"""First-order changes of $\log\pi_w$, $\log\pi_l$ for the step $\theta + s\,(g_w - g_l)$, with the remainder
    bound.

    ``step`` $s = \eta c$ (learning rate times $-\ell'(m)$); the remainder bound is
    $\tfrac12 s^2 \|g_w - g_l\|^2 \max_y \|g_y\|^2$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(V, D)`` features ``phi(y)`` of the ``V`` responses.
      w: index of the chosen response.
      l: index of the rejected response.
      step: step ``s = eta c``.

    Example:
      >>> pred = predict_changes(jnp.zeros(2), jnp.eye(2), 0, 1, 0.1)
      >>> round(float(pred.d_log_pi_w), 6), round(float(pred.d_log_pi_l), 6)  # 0.1 (0.5 + 0.5); -0.1
      (0.1, -0.1)
    """
    _, g = loglinear_scores(theta, features)
    gw, gl = g[w], g[l]
    inner, nw, nl = gw @ gl, gw @ gw, gl @ gl
    spread = jnp.max(jnp.sum(g**2, axis=1))
    bound = 0.5 * step**2 * jnp.sum((gw - gl) ** 2) * spread
    return EntanglementPrediction(step * (nw - inner), step * (inner - nl), bound, inner, nw, nl)


@validated(step=require_not_nan)
def margin_step(theta: jax.Array, features: jax.Array, w: int, l: int, step: float) -> tuple[jax.Array, jax.Array]:
    r"""Observed changes of $(\log\pi_w, \log\pi_l)$ after
    $\theta \leftarrow \theta + s\, \nabla_\theta(\log\pi_w - \log\pi_l)$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(V, D)`` features ``phi(y)`` of the ``V`` responses.
      w: index of the chosen response.
      l: index of the rejected response.
      step: step ``s`` (linear space).

    Example:
      >>> dw, dl = margin_step(jnp.zeros(2), jnp.eye(2), 0, 1, 0.1)
      >>> round(float(dw), 4), round(float(dl), 4)  # first order: 0.1, -0.1
      (0.095, -0.105)
    """

    def margin(t):
        lp, _ = loglinear_scores(t, features)
        return lp[w] - lp[l]

    new = theta + step * jax.grad(margin)(theta)
    before, _ = loglinear_scores(theta, features)
    after, _ = loglinear_scores(new, features)
    return after[w] - before[w], after[l] - before[l]
