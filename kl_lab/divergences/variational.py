r"""Variational lower bounds on $\mathrm{KL}(p \,\|\, q)$ with a neural critic (flax) trained by optax.

For samples ``x ~ p`` and ``y ~ q`` and any critic $T$:

* Donsker–Varadhan (Donsker & Varadhan 1983; as an estimator, MINE: Belghazi et al. 2018,
  arXiv:1801.04062, eq. 6), below (DV);
* NWJ (Nguyen, Wainwright & Jordan 2010, IEEE TIT 56(11), eq. 21; Poole et al. 2019,
  arXiv:1905.06922, eq. 9), below (NWJ).

DV:

$$
\mathrm{KL}(p \,\|\, q) = \sup_T\ E_p[T] - \log E_q[e^T], \qquad T^* = \log \frac{p}{q} + \mathrm{const};
$$

NWJ:

$$
\mathrm{KL}(p \,\|\, q) = \sup_T\ E_p[T] - E_q[e^{T - 1}], \qquad T^* = 1 + \log \frac{p}{q}.
$$

$\mathrm{NWJ} \le \mathrm{DV} \le \mathrm{KL}$ for every fixed $T$ ($\log z \le z/e$).
Both are lower bounds in *expectation*; evaluated on the samples the critic was trained on they can
overshoot KL (the critic overfits). Pass held-out ``x_eval, y_eval`` for an honest estimate; its standard error is
from the CLT (delta method for the log in DV).

The critic is a small MLP (``flax.linen``; tanh hidden layers), trained full batch with
Adam for a fixed number of steps inside one ``lax.scan``; the whole call is jit-compiled.
Bad input (:mod:`kl_lab.numerics`, "Bad input"): non-finite samples or a non-positive learning rate
or tolerance raise ``ValueError`` eagerly and give NaN with ``converged=False`` under ``jit``.

Converged means the mean loss over the last tenth of the steps changed by at most
``tol * (1 + |loss|)`` from the tenth before; ``residual`` is that change.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.numerics import as_input, check_finite, check_floating, check_positive, check_rank, compute_dtype, finish

__all__ = ["VariationalResult", "donsker_varadhan", "nwj"]

Array = jax.Array


class VariationalResult(NamedTuple):
    r"""A trained variational bound on $\mathrm{KL}(p \,\|\, q)$.

    Examples:
      >>> from kl_lab.divergences.variational import VariationalResult
      >>> VariationalResult._fields[:3]
      ('estimate', 'stderr', 'converged')
    """

    estimate: Array  #: the bound at the trained critic, on the evaluation samples
    stderr: Array  #: its Monte Carlo standard error (CLT / delta method)
    converged: Array  #: bool: the training loss levelled off (module docstring)
    iterations: Array  #: Adam steps taken
    residual: Array  #: change of the mean loss between the last two tenths of training
    loss_history: Array  #: the training loss (minus the bound on the training samples) per step
    params: Any  #: the critic's flax parameters


def _bound(is_dv: Array | bool, t_x: Array, t_y: Array) -> tuple[Array, Array]:
    """(bound, stderr) from critic values on samples of p and q; DV if ``is_dv`` else NWJ.

    ``is_dv`` is traced (a ``where``, not a Python branch), so one compiled program serves both.
    """
    n, m = t_x.shape[0], t_y.shape[0]
    mean_tx = jnp.mean(t_x)
    var_tx = jnp.var(t_x, ddof=1) / n
    log_mean_exp = jax.nn.logsumexp(t_y) - math.log(m)
    w = jnp.exp(t_y - log_mean_exp)  # e^T / E e^T: the delta-method weights of DV, mean 1
    dv, dv_se = mean_tx - log_mean_exp, jnp.sqrt(var_tx + jnp.var(w, ddof=1) / m)
    e = jnp.exp(t_y - 1.0)
    nw, nw_se = mean_tx - jnp.mean(e), jnp.sqrt(var_tx + jnp.var(e, ddof=1) / m)
    return jnp.where(is_dv, dv, nw), jnp.where(is_dv, dv_se, nw_se)


def _critic(hidden: tuple[int, ...], dtype: Any):
    import flax.linen as nn  # lazy: keeps `import kl_lab.divergences` light

    class Critic(nn.Module):
        @nn.compact
        def __call__(self, z):
            for h in hidden:
                z = jnp.tanh(nn.Dense(h, dtype=dtype, param_dtype=dtype)(z))
            return nn.Dense(1, dtype=dtype, param_dtype=dtype)(z)[..., 0]

    return Critic()


@functools.partial(jax.jit, static_argnames=("hidden", "steps"))
def _train(is_dv, x, y, x_eval, y_eval, key, learning_rate, tol, *, hidden, steps):
    import optax  # lazy, as flax

    model = _critic(hidden, x.dtype)
    params = model.init(key, x[:1])
    opt = optax.adam(learning_rate)

    def loss_fn(p):
        return -_bound(is_dv, model.apply(p, x), model.apply(p, y))[0]

    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    est, se = _bound(is_dv, model.apply(params, x_eval), model.apply(params, y_eval))
    w = max(steps // 10, 1)
    last = jnp.mean(losses[-w:])  # steps >= 2 so 2 w <= steps
    residual = jnp.abs(last - jnp.mean(losses[-2 * w : -w]))
    converged = residual <= tol * (1.0 + jnp.abs(last))
    return VariationalResult(est, se, converged, jnp.asarray(steps), residual, losses, params)


def _fit(kind, x, y, key, x_eval, y_eval, hidden, steps, learning_rate, tol) -> VariationalResult:
    x, y = as_input(x, "x"), as_input(y, "y")
    x_eval = x if x_eval is None else as_input(x_eval, "x_eval")
    y_eval = y if y_eval is None else as_input(y_eval, "y_eval")
    ok = True
    for name, a in (("x", x), ("y", y), ("x_eval", x_eval), ("y_eval", y_eval)):
        check_rank(a, 2, name)
        check_floating(a, name)
        ok = ok & check_finite(a, name)
        if a.shape[1] != x.shape[1]:
            raise ValueError(f"{name} must have d = {x.shape[1]} columns like x; got shape {a.shape}")
        if a.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 samples; got {a.shape[0]}")
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an int >= 2; got {steps!r}")
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty tuple of positive layer widths; got {hidden!r}")
    ok = ok & check_positive(learning_rate, "learning_rate") & check_positive(tol, "tol")
    dtype = jnp.result_type(x, y)
    cd = compute_dtype(dtype)
    x, y, x_eval, y_eval = (a.astype(cd) for a in (x, y, x_eval, y_eval))
    out = _train(
        jnp.asarray(kind == "dv"), x, y, x_eval, y_eval, key, learning_rate, tol, hidden=hidden, steps=int(steps)
    )
    return finish(ok, out, dtype)


def donsker_varadhan(
    x: Array,
    y: Array,
    key: Array,
    *,
    x_eval: Array | None = None,
    y_eval: Array | None = None,
    hidden: tuple[int, ...] = (32,),
    steps: int = 300,
    learning_rate: float = 5e-3,
    tol: float = 1e-3,
) -> VariationalResult:
    r"""Donsker–Varadhan lower bound $E_p[T] - \log E_q[e^T]$ on $\mathrm{KL}(p \,\|\, q)$, critic trained by Adam.

    $$\mathrm{KL}(p \,\|\, q) \ge \sup_T\ E_p[T] - \log E_q[e^T].$$

    ``x`` (n, d) ~ p, ``y`` (m, d) ~ q; ``key`` initialises the critic. Module docstring for
    the formula, sources and the overfitting caveat. Raises ``ValueError`` for rank or
    dimension mismatch, fewer than 2 samples, ``steps < 2``, a non-positive learning rate or
    tolerance, or (eager) non-finite samples.

    Args:
      x: ``(n, d)`` samples of ``p`` (finite, float; ``n >= 2``).
      y: ``(m, d)`` samples of ``q``.
      key: PRNG key that initialises the critic.
      x_eval: ``(n', d)`` held-out samples of ``p`` the bound is evaluated on (``None``: ``x``).
      y_eval: ``(m', d)`` held-out samples of ``q`` (``None``: ``y``).
      hidden: widths of the critic MLP's hidden layers (static tuple of ints).
      steps: Adam steps (static int >= 2).
      learning_rate: Adam's learning rate (positive).
      tol: convergence tolerance on the change of the mean loss over the last tenth of the steps (positive).

    Returns:
      a :class:`VariationalResult`.

    Examples:
      >>> import jax, numpy as np
      >>> x = np.random.default_rng(0).normal(1.0, 1.0, size=(400, 1))
      >>> y = np.random.default_rng(1).normal(0.0, 1.0, size=(400, 1))
      >>> r = donsker_varadhan(x, y, jax.random.PRNGKey(0), steps=100)
      >>> bool(np.isfinite(r.estimate))  # a noisy lower bound on KL = 0.5
      True
    """
    return _fit("dv", x, y, key, x_eval, y_eval, hidden, steps, learning_rate, tol)


def nwj(
    x: Array,
    y: Array,
    key: Array,
    *,
    x_eval: Array | None = None,
    y_eval: Array | None = None,
    hidden: tuple[int, ...] = (32,),
    steps: int = 300,
    learning_rate: float = 5e-3,
    tol: float = 1e-3,
) -> VariationalResult:
    r"""NWJ lower bound $E_p[T] - E_q[e^{T-1}]$ on $\mathrm{KL}(p \,\|\, q)$, critic trained by Adam.

    $$\mathrm{KL}(p \,\|\, q) \ge \sup_T\ E_p[T] - E_q[e^{T - 1}].$$

    Same arguments, result and errors as :func:`donsker_varadhan`. The NWJ objective is
    linear in the q-expectation, so its minibatch gradients are unbiased (DV's are not);
    at a fixed critic NWJ <= DV.

    Args:
      x: ``(n, d)`` samples of ``p`` (finite, float; ``n >= 2``).
      y: ``(m, d)`` samples of ``q``.
      key: PRNG key that initialises the critic.
      x_eval: ``(n', d)`` held-out samples of ``p`` the bound is evaluated on (``None``: ``x``).
      y_eval: ``(m', d)`` held-out samples of ``q`` (``None``: ``y``).
      hidden: widths of the critic MLP's hidden layers (static tuple of ints).
      steps: Adam steps (static int >= 2).
      learning_rate: Adam's learning rate (positive).
      tol: convergence tolerance on the change of the mean loss over the last tenth of the steps (positive).

    Returns:
      a :class:`VariationalResult`.

    Examples:
      >>> import jax, numpy as np
      >>> x = np.random.default_rng(0).normal(1.0, 1.0, size=(400, 1))
      >>> y = np.random.default_rng(1).normal(0.0, 1.0, size=(400, 1))
      >>> bool(np.isfinite(nwj(x, y, jax.random.PRNGKey(0), steps=100).estimate))
      True
    """
    return _fit("nwj", x, y, key, x_eval, y_eval, hidden, steps, learning_rate, tol)
