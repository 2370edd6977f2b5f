r"""DPO on low-separation pairs in an exact token-level softmax model, and a TAB-PO-style token barrier.

Fodeh et al., "TAB-PO: Preference Optimization with a Token-Level Adaptive Barrier for Token-Critical
Structured Generation" (arXiv 2603.00025v1), abstract: when chosen and rejected completions differ in 1-3
tokens, DPO suffers "margin collapse", "likelihood squeezing (the margin objective shifts the absolute
likelihoods of both completions together)" and "gradient dilution"; TAB-PO adds "token-weighted,
reference-adjusted advantages" and "a conditional token-level barrier that regularizes under-confident
tokens". Only the abstract was available: the loss below is our hypothesis of it.

**Model.** $T$ positions, vocabulary $V$, one shared parameter $\theta\in\mathbb R^D$; position $t$ draws its
token from the log-linear softmax $\pi_t(v)\propto\exp\langle\theta,\phi_t(v)\rangle$ (features ``(T, V, D)``;
:func:`kl_lab.preference.entanglement.loglinear_scores` at each position), so
$\log\pi(y) = \sum_t\log\pi_t(y_t)$ and $\nabla_\theta\log\pi_t(v) = g_t(v) = \phi_t(v) - \mathbb E_{\pi_t}\phi_t$.

**Shared tokens cancel [D].** For $y^w, y^l$ equal outside a set $\Delta$ of positions,

$$\nabla_\theta\bigl(\log\pi(y^w) - \log\pi(y^l)\bigr) = \sum_{t\in\Delta}\bigl(g_t(y^w_t) - g_t(y^l_t)\bigr) =: d,$$

whatever the number of shared tokens (:func:`margin_gradient`).

**Likelihood squeezing [D].** A step $\theta\leftarrow\theta+s\,d$ changes, to first order,
$\Delta\log\pi(y^w) = s\langle S + G^w, d\rangle$ and $\Delta\log\pi(y^l) = s\langle S + G^l, d\rangle$ with
$S = \sum_{t\notin\Delta} g_t(y_t)$ the shared tokens' score and $G^y = \sum_{t\in\Delta} g_t(y_t)$: the two
changes share the common term $s\langle S, d\rangle$, which grows with the number of shared tokens while
their difference $s\|d\|^2$ (the margin's growth) does not. Both move in the same direction once the common
term dominates. The second-order remainder of either change is at most
$\frac12 s^2\|d\|^2\sum_t\max_v\|g_t(v)\|^2$ (the Hessian of $\log\pi(y)$ is $-\sum_t\mathrm{Cov}_{\pi_t}\phi_t$)
(:func:`squeeze_prediction`).

**TAB-PO loss [hypothesis].** With token weights $\omega_t$ (large on the semantic, differing tokens),
reference-adjusted token advantages $a_t(y) = \log\pi_t(y_t) - \log\pi^{ref}_t(y_t)$, and a barrier on
chosen tokens that fell below their reference (SFT) likelihood,

$$L = -\log\sigma\Bigl(\beta\sum_t\omega_t\bigl(a_t(y^w) - a_t(y^l)\bigr)\Bigr)
      + \lambda\sum_t\omega_t\,\max\bigl(0, -a_t(y^w)\bigr).$$

With $\omega\equiv1$, $\lambda = 0$ it is DPO. In this context-free model the weights of the shared tokens
cancel as above, so $\omega$ only rescales the differing tokens' step; the barrier is what changes the
direction (:func:`tab_po_loss`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_positive, check_rank, poison
from kl_lab.preference.entanglement import loglinear_scores

__all__ = ["SqueezePrediction", "PairTrace", "token_log_probs", "margin_gradient", "squeeze_prediction",
           "tab_po_loss", "train_pair"]  # fmt: skip


class SqueezePrediction(NamedTuple):
    """First-order changes of both sequence log-probabilities under the margin step (module docstring).

    Examples:
      >>> from kl_lab.preference.tab_po import SqueezePrediction
      >>> SqueezePrediction._fields[:3]
      ('d_log_pi_w', 'd_log_pi_l', 'common')
    """

    d_log_pi_w: jax.Array  #: s <S + G^w, d>
    d_log_pi_l: jax.Array  #: s <S + G^l, d>
    common: jax.Array  #: s <S, d>, the shared tokens' common term
    margin_growth: jax.Array  #: s ||d||^2
    remainder_bound: jax.Array  #: bound on the second-order remainder of either change


class PairTrace(NamedTuple):
    """Trajectories of :func:`train_pair` (initial point included).

    Examples:
      >>> from kl_lab.preference.tab_po import PairTrace
      >>> PairTrace._fields
      ('log_pi_w', 'log_pi_l', 'loss')
    """

    log_pi_w: jax.Array
    log_pi_l: jax.Array
    loss: jax.Array


def _positions(theta, features):
    check_rank(features, 3, "features")
    return jax.vmap(loglinear_scores, in_axes=(None, 0))(theta, features)  # (T, V), (T, V, D)


def token_log_probs(theta: jax.Array, features: jax.Array, tokens: jax.Array) -> jax.Array:
    r"""$\log\pi_t(y_t)$ for each position, shape ``(T,)``; their sum is $\log\pi(y)$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(T, V, D)`` per-position token features ``phi_t(v)``.
      tokens: ``(T,)`` int tokens.

    >>> import jax.numpy as jnp
    >>> lp = token_log_probs(jnp.zeros(2), jnp.ones((3, 4, 2)), jnp.array([0, 1, 2]))
    >>> bool(jnp.allclose(lp, jnp.log(0.25)))
    True
    """
    log_pi, _ = _positions(theta, features)
    return jnp.take_along_axis(log_pi, tokens[:, None], axis=1)[:, 0]


def margin_gradient(theta: jax.Array, features: jax.Array, y_w: jax.Array, y_l: jax.Array) -> jax.Array:
    r"""$d = \sum_{t:\,y^w_t\ne y^l_t}(g_t(y^w_t) - g_t(y^l_t))$: the margin's gradient, shared tokens cancelled.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(T, V, D)`` per-position token features ``phi_t(v)``.
      y_w: ``(T,)`` int tokens of the chosen completion.
      y_l: ``(T,)`` int tokens of the rejected completion.

    Returns:
      ``(D,)`` gradient ``d``.

    >>> import jax, jax.numpy as jnp
    >>> f = jax.random.normal(jax.random.key(0), (5, 3, 2))
    >>> yw, yl = jnp.array([0, 1, 2, 0, 1]), jnp.array([0, 1, 0, 0, 1])  # one differing token
    >>> auto = jax.grad(lambda th: token_log_probs(th, f, yw).sum() - token_log_probs(th, f, yl).sum())
    >>> bool(jnp.allclose(margin_gradient(jnp.ones(2), f, yw, yl), auto(jnp.ones(2)), atol=1e-5))
    True
    """
    _, g = _positions(theta, features)
    t = jnp.arange(features.shape[0])
    diff = (y_w != y_l)[:, None]
    return jnp.sum(jnp.where(diff, g[t, y_w] - g[t, y_l], 0.0), axis=0)


def squeeze_prediction(
    theta: jax.Array, features: jax.Array, y_w: jax.Array, y_l: jax.Array, step
) -> SqueezePrediction:
    r"""First-order changes of $\log\pi(y^w)$, $\log\pi(y^l)$ for $\theta\leftarrow\theta + s\,d$ (module docstring).

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(T, V, D)`` per-position token features ``phi_t(v)``.
      y_w: ``(T,)`` int tokens of the chosen completion.
      y_l: ``(T,)`` int tokens of the rejected completion.
      step: step ``s``.

    >>> import jax, jax.numpy as jnp
    >>> f = jax.random.normal(jax.random.key(1), (40, 3, 2))
    >>> yw = jnp.zeros(40, int); yl = yw.at[0].set(1)
    >>> p = squeeze_prediction(jnp.zeros(2), f, yw, yl, 1e-3)
    >>> bool(jnp.allclose(p.d_log_pi_w - p.d_log_pi_l, p.margin_growth))
    True
    """
    _, g = _positions(theta, features)
    t = jnp.arange(features.shape[0])
    diff = (y_w != y_l)[:, None]
    gw, gl = g[t, y_w], g[t, y_l]
    d = jnp.sum(jnp.where(diff, gw - gl, 0.0), axis=0)
    shared = jnp.sum(jnp.where(diff, 0.0, gw), axis=0)
    spread = jnp.sum(jnp.max(jnp.sum(g**2, axis=-1), axis=-1))
    common = step * shared @ d
    bound = 0.5 * step**2 * (d @ d) * spread
    return SqueezePrediction(step * (shared + jnp.sum(jnp.where(diff, gw, 0.0), 0)) @ d,
                             step * (shared + jnp.sum(jnp.where(diff, gl, 0.0), 0)) @ d,
                             common, step * (d @ d), bound)  # fmt: skip


def tab_po_loss(theta, theta_ref, features, y_w, y_l, *, beta, weights=None, barrier=0.0) -> jax.Array:
    r"""The TAB-PO-style loss of the module docstring [hypothesis]; DPO when ``weights`` is None, ``barrier = 0``.

    ``weights`` ``(T,)`` are the token weights $\omega_t$ (default 1). ``beta > 0`` and ``barrier >= 0`` are
    checked (eager ``ValueError``; NaN under ``jit``).

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      theta_ref: ``(D,)`` reference parameters.
      features: ``(T, V, D)`` per-position token features ``phi_t(v)``.
      y_w: ``(T,)`` int tokens of the chosen completion.
      y_l: ``(T,)`` int tokens of the rejected completion.
      beta: regularisation ``beta > 0``.
      weights: ``(T,)`` token weights (``None``: 1).
      barrier: barrier strength ``>= 0``.

    Returns:
      scalar loss.

    >>> import jax, jax.numpy as jnp
    >>> f = jax.random.normal(jax.random.key(0), (4, 3, 2))
    >>> yw, yl = jnp.array([0, 1, 2, 0]), jnp.array([0, 1, 0, 0])
    >>> round(float(tab_po_loss(jnp.ones(2), jnp.ones(2), f, yw, yl, beta=0.1)), 4)  # log 2 at the reference
    0.6931
    """
    ok = jnp.logical_and(check_positive(beta, "beta"), check_positive(barrier, "barrier", allow_zero=True))
    w = jnp.ones(features.shape[0]) if weights is None else jnp.asarray(weights)
    aw = token_log_probs(theta, features, y_w) - token_log_probs(theta_ref, features, y_w)
    al = token_log_probs(theta, features, y_l) - token_log_probs(theta_ref, features, y_l)
    loss = -jax.nn.log_sigmoid(beta * jnp.sum(w * (aw - al))) + barrier * jnp.sum(w * jax.nn.relu(-aw))
    return poison(ok, loss)


def train_pair(theta0, features, y_w, y_l, *, beta, lr, steps: int, weights=None, barrier=0.0) -> PairTrace:
    r"""Gradient descent on :func:`tab_po_loss` from the reference ``theta0``; trajectories of both log-probs.

    Args:
      theta0: ``(D,)`` reference (and initial) parameters.
      features: ``(T, V, D)`` per-position token features ``phi_t(v)``.
      y_w: ``(T,)`` int tokens of the chosen completion.
      y_l: ``(T,)`` int tokens of the rejected completion.
      beta: regularisation ``beta > 0``.
      lr: learning rate.
      steps: number of steps.
      weights: as :func:`tab_po_loss`.
      barrier: as :func:`tab_po_loss`.

    >>> import jax, jax.numpy as jnp
    >>> f = jax.random.normal(jax.random.key(0), (6, 3, 2))
    >>> yw = jnp.zeros(6, int); yl = yw.at[2].set(1)
    >>> tr = train_pair(jnp.zeros(2), f, yw, yl, beta=1.0, lr=0.5, steps=20)
    >>> bool(tr.log_pi_w[-1] - tr.log_pi_l[-1] > tr.log_pi_w[0] - tr.log_pi_l[0])  # the margin grows
    True
    """
    check_positive(lr, "lr")
    loss = lambda th: tab_po_loss(th, theta0, features, y_w, y_l, beta=beta, weights=weights, barrier=barrier)  # noqa: E731
    vg = jax.value_and_grad(loss)

    def logs(th):
        return token_log_probs(th, features, y_w).sum(), token_log_probs(th, features, y_l).sum()

    def step(th, _):
        v, gr = vg(th)
        th = th - lr * gr
        lw, ll = logs(th)
        return th, (lw, ll, v)

    th_end, (lw, ll, ls) = jax.lax.scan(step, theta0, None, length=steps)
    w0, l0 = logs(theta0)
    return PairTrace(jnp.concatenate([w0[None], lw]), jnp.concatenate([l0[None], ll]),
                     jnp.concatenate([ls, loss(th_end)[None]]))  # fmt: skip
