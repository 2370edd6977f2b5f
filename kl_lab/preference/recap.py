r"""A KL penalty on the current task does not bound the divergence on other tasks; replay reweighting.

Phan et al., "Beyond Reasoning Gains: Mitigating General Capabilities Forgetting in Large Reasoning
Models" (arXiv 2510.21978v2), abstract: KL regularisation terms "are calculated on the current task,
thus they do not guarantee broader knowledge"; RECAP replays other tasks' objectives with weights that
adapt online to "short-horizon signals of convergence and instability, shifting the post-training focus
away from saturated objectives and toward underperforming or volatile ones". Only the abstract was
available; the reweighting rule below is our hypothesis of that sentence, not the paper's formula.

**Model.** One log-linear policy over two prompt sets with shared parameters $\theta\in\mathbb R^D$:
$\pi_\theta(y\mid x) \propto \exp\langle\theta, \phi(x, y)\rangle$ (features ``(X, Y, D)``). The KL measured
on a prompt set $S$ is $\mathrm{KL}_S(\theta) = \frac1{|S|}\sum_{x\in S}\mathrm{KL}(\pi_\theta(\cdot\mid x)\,\|\,
\pi_{\theta_0}(\cdot\mid x))$.

**Exact counterexample [D].** Let $v$ be orthogonal to every feature difference of task $A$,
$\langle v, \phi(x,y)-\phi(x,y')\rangle = 0$ for $x\in A$ (it exists when $D > |A|(Y-1)$). Along
$\theta_t = \theta_0 + t v$ the policy on $A$ does not move, $\mathrm{KL}_A(\theta_t) = 0$ for every $t$, while
on a prompt $x\in B$ it is the exponential tilt of $\pi_0 = \pi_{\theta_0}(\cdot\mid x)$ by
$s(y) = \langle v, \phi(x, y)\rangle$, whose KL is

$$\mathrm{KL}(\pi_t\,\|\,\pi_0) = t\,\mathbb E_{\pi_t}[s] - \log \mathbb E_{\pi_0}[e^{t s}]
\;\xrightarrow[t\to\infty]{}\; -\log \pi_0(\arg\max s),$$

(:func:`tilt_kl`, re-exported from :func:`kl_lab.alignment.kl_rl.tilt_kl` with $\lambda = t$ and rewards
$s$), so no bound $\mathrm{KL}_B \le C\,\mathrm{KL}_A$ can hold.

If the mass off the maximiser at $t$ is $\varepsilon = 1 - \pi_t(\arg\max s)$ and $L = -\log\pi_0(\arg\max s)$,
then $|\mathrm{KL}(\pi_t\|\pi_0) - L| \le \varepsilon\,(2L + t\,(\max s - \min s) + 3)$ [D]: the maximiser's term is
$(1-\varepsilon)(L + \log(1-\varepsilon))$ and every other term is $\pi_t(y)(t s_y - \log Z_t)$ with
$|t s_y - \log Z_t| \le t\,(\max s - \min s) + L + \varepsilon$ for small $\varepsilon$.

**Training [D].** Exact gradient ascent on $J(\theta) = w_A(\mathbb E_A r_A - \beta\,\mathrm{KL}_A) + w_B\,\mathbb
E_B r_B$ (:func:`train_two_task`). Without replay ($w_B = 0$) and with steps small enough that $J$ increases,
$J_A(\theta_t) \ge J_A(\theta_0)$ gives the only control the penalty offers:
$\beta\,\mathrm{KL}_A(\theta_t) \le \mathbb E_A r_A(\theta_t) - \mathbb E_A r_A(\theta_0)$; nothing of the kind holds
for $\mathrm{KL}_B$.

**RECAP weights [hypothesis].** With $R_k\in[0,1]$ the current reward of objective $k$ and $\sigma_k$ the
standard deviation of its last $h$ increments, $w = K\,\mathrm{softmax}((1 - R + \sigma/\bar\sigma)/\tau)$, with
$\bar\sigma = 0.1$ a volatility scale and $\tau = 1$: underperforming ($R_k$ low) or volatile objectives get more
weight, saturated ones ($R_k \approx 1$, flat) less (:func:`recap_weights`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.alignment.kl_rl import tilt_kl
from kl_lab.divergences import discrete
from kl_lab.numerics import check_positive, check_rank, poison

__all__ = ["TwoTaskTrace", "conditional_log_probs", "task_kl", "tilt_kl", "null_direction", "recap_weights",
           "train_two_task"]  # fmt: skip


class TwoTaskTrace(NamedTuple):
    """Trajectories of :func:`train_two_task` (one row per step, the initial point included).

    Examples:
      >>> from kl_lab.preference.recap import TwoTaskTrace
      >>> TwoTaskTrace._fields[:4]
      ('reward_a', 'reward_b', 'kl_a', 'kl_b')
    """

    reward_a: jax.Array  #: E_A r_A
    reward_b: jax.Array  #: E_B r_B
    kl_a: jax.Array  #: KL_A(theta_t)
    kl_b: jax.Array  #: KL_B(theta_t)
    weights: jax.Array  #: (steps + 1, 2) objective weights (w_A, w_B) used at each step
    theta: jax.Array  #: final parameters


def conditional_log_probs(theta: jax.Array, features: jax.Array) -> jax.Array:
    r"""$\log\pi_\theta(y\mid x)$, shape ``(X, Y)``, of the log-linear policy with ``features`` ``(X, Y, D)``.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      features: ``(X, Y, D)`` features of prompt ``x`` and response ``y``.

    >>> import jax.numpy as jnp
    >>> lp = conditional_log_probs(jnp.zeros(2), jnp.ones((3, 4, 2)))
    >>> bool(jnp.allclose(jnp.exp(lp), 0.25))
    True
    """
    check_rank(features, 3, "features")
    return jax.nn.log_softmax(features @ theta, axis=-1)


def task_kl(theta: jax.Array, theta_ref: jax.Array, features: jax.Array) -> jax.Array:
    r"""The mean KL over the prompts of ``features``: $\frac1{|S|}\sum_{x}\mathrm{KL}(\pi_\theta\|\pi_{ref})(x)$.

    Args:
      theta: ``(D,)`` parameters of the log-linear policy.
      theta_ref: ``(D,)`` reference parameters.
      features: ``(X, Y, D)`` features.

    Returns:
      scalar mean KL in nats.

    >>> import jax.numpy as jnp
    >>> f = jnp.eye(3)[None]  # one prompt, three responses
    >>> round(float(task_kl(jnp.zeros(3), jnp.zeros(3), f)), 12)
    0.0
    """
    return jnp.mean(discrete.kl(conditional_log_probs(theta, features), conditional_log_probs(theta_ref, features)))


def null_direction(features_a: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""A unit $v$ with $\langle v, \phi(x,y)-\phi(x,0)\rangle = 0$ for every prompt of ``features_a`` ``(X, Y, D)``.

    Returns ``(v, residual)``, ``residual = max |<v, phi(x,y) - phi(x,0)>|`` (rounding only when
    ``D > X (Y - 1)``; raises ``ValueError`` otherwise: then no such direction need exist).

    >>> import jax, jax.numpy as jnp
    >>> v, res = null_direction(jax.random.normal(jax.random.key(0), (2, 3, 6)))
    >>> bool(res < 1e-5), round(float(jnp.linalg.norm(v)), 6)
    (True, 1.0)
    """
    check_rank(features_a, 3, "features_a")
    x, y, d = features_a.shape
    if d <= x * (y - 1):
        raise ValueError(f"features_a needs D > X (Y - 1) for a null direction; got X={x}, Y={y}, D={d}")
    diffs = (features_a[:, 1:, :] - features_a[:, :1, :]).reshape(-1, d)
    _, _, vt = jnp.linalg.svd(diffs, full_matrices=True)
    v = vt[-1]
    return v, jnp.max(jnp.abs(diffs @ v))


def recap_weights(history: jax.Array, *, tau: float = 1.0, vol_scale: float = 0.1) -> jax.Array:
    r"""Objective weights $K\,\mathrm{softmax}((1 - R + \sigma/\bar\sigma)/\tau)$ from a reward window [hypothesis].

    ``history`` ``(h + 1, K)``: the last rewards (in $[0, 1]$) of the $K$ objectives, newest last;
    $\sigma$ is the standard deviation of the $h$ increments. The weights sum to $K$.

    Args:
      history: ``(h + 1, K)`` last rewards in ``[0, 1]``, newest last.
      tau: softmax temperature ``tau > 0``.
      vol_scale: volatility scale ``sigma_bar > 0``.

    Returns:
      ``(K,)`` weights summing to ``K``.

    >>> import jax.numpy as jnp
    >>> w = recap_weights(jnp.array([[0.9, 0.5], [0.9, 0.5]]))  # B underperforms -> more weight
    >>> bool(w[1] > w[0]), round(float(w.sum()), 6)
    (True, 2.0)
    """
    check_positive(tau, "tau")
    check_positive(vol_scale, "vol_scale")
    r = history[-1]
    sigma = jnp.std(jnp.diff(history, axis=0), axis=0)
    return r.shape[-1] * jax.nn.softmax((1.0 - r + sigma / vol_scale) / tau)


def train_two_task(
    theta0: jax.Array,
    features_a: jax.Array,
    reward_a: jax.Array,
    features_b: jax.Array,
    reward_b: jax.Array,
    *,
    beta,
    lr,
    steps: int,
    replay_weight=0.0,
    adaptive=False,
    window: int = 5,
    tau: float = 1.0,
    vol_scale: float = 0.1,
) -> TwoTaskTrace:
    r"""Exact gradient ascent on $w_A(\mathbb E_A r_A - \beta\,\mathrm{KL}_A) + w_B\,\mathbb E_B r_B$ from ``theta0``.

    Weights: $w = (1,$ ``replay_weight``$)$ (``replay_weight = 0``: the KL-regularised current task only), or,
    when ``adaptive``, :func:`recap_weights` of the last ``window`` steps. Rewards ``(X, Y)`` in $[0, 1]$; the
    reference policy is $\pi_{\theta_0}$. ``beta``, ``lr``, ``replay_weight`` and ``adaptive`` may be traced
    (``jax.vmap`` over them); ``steps`` and ``window`` are static. Invalid ``beta`` or ``lr`` raise eagerly
    and give NaN trajectories under ``jit``.

    Args:
      theta0: ``(D,)`` initial (and reference) parameters.
      features_a: ``(X, Y, D)`` features of task A.
      reward_a: ``(X, Y)`` rewards of task A in ``[0, 1]``.
      features_b: ``(X, Y, D)`` features of task B.
      reward_b: ``(X, Y)`` rewards of task B in ``[0, 1]``.
      beta: regularisation ``beta > 0``.
      lr: learning rate (positive).
      steps: number of steps (static).
      replay_weight: weight of task B's reward.
      adaptive: use :func:`recap_weights`.
      window: reward window of the adaptive weights (static).
      tau: as :func:`recap_weights`.
      vol_scale: as :func:`recap_weights`.

    >>> import jax, jax.numpy as jnp
    >>> k1, k2 = jax.random.split(jax.random.key(0))
    >>> fa, fb = jax.random.normal(k1, (2, 3, 4)), jax.random.normal(k2, (2, 3, 4))
    >>> ra = jnp.zeros((2, 3)).at[:, 0].set(1.0); rb = jnp.zeros((2, 3)).at[:, 1].set(1.0)
    >>> tr = train_two_task(jnp.zeros(4), fa, ra, fb, rb, beta=0.1, lr=0.5, steps=50)
    >>> bool(tr.reward_a[-1] > tr.reward_a[0])
    True
    """
    ok = jnp.logical_and(check_positive(beta, "beta", allow_zero=True), check_positive(lr, "lr"))
    if window < 1:
        raise ValueError(f"window must be >= 1; got {window}")

    def expected(theta, f, r):
        return jnp.mean(jnp.sum(jnp.exp(conditional_log_probs(theta, f)) * r, axis=-1))

    def objective(theta, w):
        ja = expected(theta, features_a, reward_a) - beta * task_kl(theta, theta0, features_a)
        return w[0] * ja + w[1] * expected(theta, features_b, reward_b)

    grad = jax.grad(objective)

    def measure(theta):
        return jnp.stack([expected(theta, features_a, reward_a), expected(theta, features_b, reward_b),
                          task_kl(theta, theta0, features_a), task_kl(theta, theta0, features_b)])  # fmt: skip

    m0 = measure(theta0)
    hist0 = jnp.tile(m0[:2], (window + 1, 1))
    fixed = jnp.stack([jnp.ones_like(jnp.asarray(replay_weight, m0.dtype)), jnp.asarray(replay_weight, m0.dtype)])

    def weights(hist):
        return jnp.where(adaptive, recap_weights(hist, tau=tau, vol_scale=vol_scale), fixed)

    def step(carry, _):
        theta, hist = carry
        w = weights(hist)
        theta = theta + lr * grad(theta, w)
        m = measure(theta)
        hist = jnp.concatenate([hist[1:], m[None, :2]], axis=0)
        return (theta, hist), (m, w)

    (theta, _), (ms, ws) = jax.lax.scan(step, (theta0, hist0), None, length=steps)
    ms = jnp.concatenate([m0[None], ms], axis=0)
    ws = jnp.concatenate([weights(hist0)[None], ws], axis=0)
    return poison(ok, TwoTaskTrace(ms[:, 0], ms[:, 1], ms[:, 2], ms[:, 3], ws, theta))
