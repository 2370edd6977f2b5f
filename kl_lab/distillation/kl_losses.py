"""The k1 / k2 / k3 KL estimators used as *losses* (KDRL / RLAD-style on-policy distillation).

Schulman (2020), "Approximating KL Divergence": for samples ``x ~ pi`` and
``l = log ref(x) - log pi(x)``, ``k1 = -l``, ``k2 = l^2 / 2``, ``k3 = e^l - 1 - l``
estimate ``KL(pi || ref)`` (k1 and k3 unbiased, k2 biased). The per-sample terms
are :func:`kl_lab.divergences.estimators.mc_kl_terms`; this module only uses
them as losses, as KDRL (Xu et al. 2025, arXiv:2506.02208) and verl's
``low_var_kl`` (= k3, clamped) do.

The pitfall (derived in ``other-papers-checks.md`` Sec. 13 and proved by the
tests): differentiate the sample average with the samples held fixed (no
score-function term) and take the expectation over ``x ~ pi``. With
``d = grad log pi``:

* ``E[grad k1] = E_pi[d] = 0`` -- no signal at all;
* ``E[grad k2] = E_pi[(log pi - log ref) d] = grad KL(pi || ref)`` -- the intended reverse KL;
* ``E[grad k3] = E_pi[(1 - ref/pi) d] = -sum_x ref(x) d(x) = grad KL(ref || pi)`` --
  the **forward** KL: "reverse KL via k3" optimises the mode-covering direction.

:func:`expected_estimator_loss` computes that expectation exactly for a
categorical policy (weights ``stop_gradient(pi)``), so ``jax.grad`` of it *is*
``E[grad k]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.divergences.estimators import ESTIMATORS, estimator_terms, mc_kl_terms, sample_value_checks
from kl_lab.divergences.kernels import check_logits
from kl_lab.numerics import as_input, check_axis, check_floating, check_same_shape, compute_dtype, finish, mul_exp

Array = jax.Array

__all__ = ["kl_estimator_loss", "expected_estimator_loss"]


def _check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")


def kl_estimator_loss(log_pi_at_x: Array, log_ref_at_x: Array, estimator: str = "k3", axis: int = -1) -> Array:
    r"""Sample average of ``k(x)`` over ``axis`` for ``x ~ pi`` -- the loss as used in on-policy distillation.

    With $l = \log\mathrm{ref}(x) - \log\pi(x)$: $k_1 = -l$, $k_2 = l^2/2$, $k_3 = e^{l} - 1 - l$ (Schulman 2020).

    Args:
      log_pi_at_x: ``log pi(x_i)`` of the policy being trained (carries the gradient).
      log_ref_at_x: ``log ref(x_i)`` of the reference/teacher at the same samples.
      estimator: ``"k1"``, ``"k2"`` or ``"k3"``.
      axis: the sample axis.
    Returns:
      the mean of :func:`~kl_lab.divergences.estimators.mc_kl_terms` along ``axis``.
      Its value estimates ``KL(pi || ref)`` (k1, k3 unbiased); its gradient, in
      expectation, is ``0`` (k1), ``grad KL(pi || ref)`` (k2), ``grad KL(ref || pi)`` (k3).

    Example:
      >>> lp, lr = jnp.log(jnp.array([0.5, 0.25])), jnp.log(jnp.array([0.25, 0.5]))
      >>> round(float(kl_estimator_loss(lp, lr, "k2")), 6)  # mean of (log 2)^2 / 2
      0.240227
    """
    _check_estimator(estimator)
    log_pi_at_x, log_ref_at_x = as_input(log_pi_at_x, "log_pi_at_x"), as_input(log_ref_at_x, "log_ref_at_x")
    check_floating(log_pi_at_x, "log_pi_at_x")
    check_floating(log_ref_at_x, "log_ref_at_x")
    check_same_shape(log_pi_at_x, log_ref_at_x, "log_pi_at_x", "log_ref_at_x")
    ax = check_axis(axis, jnp.ndim(log_pi_at_x))
    if jnp.ndim(log_pi_at_x) and jnp.shape(log_pi_at_x)[ax] == 0:
        raise ValueError(f"log_pi_at_x must have at least one sample along axis {axis}; got shape {log_pi_at_x.shape}")
    # values as mc_kl's (no NaN/+inf, no -inf log pi), named as this function's arguments
    ok = sample_value_checks(ax, 2, ("log_pi_at_x",), log_pi_at_x=log_pi_at_x, log_ref_at_x=log_ref_at_x)
    dtype = jnp.result_type(log_pi_at_x, log_ref_at_x)
    cd = compute_dtype(dtype)
    terms = estimator_terms(log_pi_at_x.astype(cd), log_ref_at_x.astype(cd), estimator)
    return finish(ok, jnp.mean(terms, axis=axis), dtype)


def expected_estimator_loss(policy_logits: Array, ref_logits: Array, estimator: str = "k3") -> Array:
    r"""$\sum_x \operatorname{sg}[\pi(x)]\,k(x)$: the exact on-policy expectation of an estimator loss.

    For a categorical policy ``pi = softmax(policy_logits)`` and reference
    ``ref = softmax(ref_logits)`` over the last axis. The value is
    ``E_pi[k]`` (``KL(pi || ref)`` for k1 and k3, ``E_pi[l^2]/2`` for k2); the
    gradient w.r.t. ``policy_logits`` is ``E_{x ~ pi}[grad k(x)]`` with the
    sampling distribution held fixed -- see the module docstring for what it
    equals. Outcomes with ``pi(x) = 0`` contribute nothing (``mul_exp``).

    Example:
      >>> z, zr = jnp.array([1.0, 0.0, -1.0]), jnp.zeros(3)
      >>> g2 = jax.grad(lambda q: expected_estimator_loss(q, zr, "k2"))(z)
      >>> kl_rev = lambda q: jnp.sum(jax.nn.softmax(q) * (jax.nn.log_softmax(q) - jax.nn.log_softmax(zr)))
      >>> bool(jnp.allclose(g2, jax.grad(kl_rev)(z)))  # E grad k2 = grad KL(pi || ref)
      True
    """
    _check_estimator(estimator)
    policy_logits, ref_logits = as_input(policy_logits, "policy_logits"), as_input(ref_logits, "ref_logits")
    check_floating(policy_logits, "policy_logits")
    check_floating(ref_logits, "ref_logits")
    check_same_shape(policy_logits, ref_logits, "policy_logits", "ref_logits")
    if jnp.ndim(policy_logits) == 0 or jnp.shape(policy_logits)[-1] == 0:
        raise ValueError(f"policy_logits must have a non-empty class axis; got shape {jnp.shape(policy_logits)}")
    dtype = jnp.result_type(policy_logits, ref_logits)
    cd = compute_dtype(dtype)
    zp, zr = policy_logits.astype(cd), ref_logits.astype(cd)
    ok = check_logits(zp, "policy_logits", -1) & check_logits(zr, "ref_logits", -1)
    log_pi = jax.nn.log_softmax(zp, axis=-1)
    log_ref = jax.nn.log_softmax(zr, axis=-1)
    dead = jnp.isneginf(log_pi)  # outcomes the policy never samples: their terms are dropped
    terms = mc_kl_terms(jnp.where(dead, 0.0, log_pi), log_ref, estimator)
    return finish(ok, jnp.sum(mul_exp(terms, jax.lax.stop_gradient(log_pi)), axis=-1), dtype)
