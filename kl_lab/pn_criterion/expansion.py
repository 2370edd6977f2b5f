r"""The MLE risk of an exponential family to order $n^{-2}$, under a possibly misspecified truth.

Setting (Sheena 2021, arXiv:2105.08947, Sections 2-3). Model
$p_\theta(x) = h(x) \exp(\theta \cdot t(x) - \psi(\theta))$ with natural parameter $\theta \in \mathbb{R}^p$;
true law $g$, possibly outside the model; $\theta^*$ the M-projection of $g$ (moment matching,
$\nabla\psi(\theta^*) = \eta^* := \mathbb{E}_g\, t(X)$); $\hat\theta$ the MLE from $n$ i.i.d. draws of $g$
($\nabla\psi(\hat\theta) = \bar t$). The risk is
$R(n) = \mathbb{E}_g[\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta})]$ (projection first).

Expansion (implemented here; the [D] derivation of core-papers-math.md section 1, re-derived and confirmed).
With $\phi$ the convex dual of $\psi$, $\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta})$ is the Bregman divergence
$\phi(\eta^*) - \phi(\bar t) + \nabla\phi(\bar t) \cdot (\bar t - \eta^*)$, whose Taylor series in
$Z = \bar t - \eta^*$ is (summation over repeated indices)

$$\tfrac12 \phi_{ij} Z_i Z_j + \tfrac13 \phi_{ijk} Z_i Z_j Z_k + \tfrac18 \phi_{ijkl} Z_i Z_j Z_k Z_l + O(|Z|^5).$$

The moments of a sample mean, $\mathbb{E} Z_i Z_j = \Sigma_{ij}/n$, $\mathbb{E} Z_i Z_j Z_k = \kappa_{ijk}/n^2$,
$\mathbb{E} Z_i Z_j Z_k Z_l = (\Sigma_{ij}\Sigma_{kl} + 2\text{ perms})/n^2 + \kappa^{(4)}_{ijkl}/n^3$, and
$\mathbb{E}|Z|^5 = O(n^{-3})$, give

$$R(n) = \frac{C_1}{n} + \frac{C_2}{n^2} + O(n^{-3}), \qquad
C_1 = \tfrac12 \operatorname{tr}(G^{-1}\Sigma), \qquad
C_2 = \tfrac13 \phi_{ijk}\kappa_{ijk} + \tfrac38 \phi_{ijkl}\Sigma_{ij}\Sigma_{kl},$$

with $G = \nabla^2\psi(\theta^*)$, $\Sigma = \mathrm{Cov}_g\, t(X)$, $\kappa$ the third joint cumulant of $t(X)$
under $g$, and

$$\phi_{ijk} = -G^{ia} G^{jb} G^{kc} \psi_{abc}, \qquad
\phi_{ijkl} = G^{ia} G^{jb} G^{kc} G^{ld} \left[-\psi_{abcd} + \psi_{abe} G^{ef} \psi_{fcd}
+ \psi_{ace} G^{ef} \psi_{fbd} + \psi_{ade} G^{ef} \psi_{fbc}\right].$$

The fourth cumulant of the truth enters only at order $n^{-3}$, so $C_2$ needs the true law's first three
cumulants of $t(X)$ and nothing more. Special cases (tested): well specified $C_1 = p/2$; one-dimensional and
well specified $C_2 = \tfrac{19}{24}\rho_3^2 - \tfrac38\rho_4$ (Exponential: $11/12$); Normal with both
parameters $C_2 = 61/12$ (from the exact Wishart risk). The expansion is formal: where the MLE fails to exist
with positive probability (Poisson with $\bar t = 0$) the risk is $+\infty$ for every $n$ and
$C_1/n + C_2/n^2$ describes $\mathbb{E}[\mathrm{KL} \mid \text{MLE exists}]$ up to an exponentially small term.

Computation. Every derivative of $\psi$ is taken by JAX autodiff; nothing is coded per family. Two routes,
chosen by ``derivatives``: ``"log_partition"`` differentiates ``family.log_partition`` four times;
``"mean"`` (default) differentiates ``family.mean`` $= \nabla\psi$ three times. They agree to rounding
(tested); the default exists because the mean map is first-order already (autodiff of $\psi$ in the families
base class, or a member's closed form that the families tests check against autodiff), and it compiles 3-5
times faster for the MultivariateNormal member, whose $\psi$ goes through a Cholesky factor.
With $S = G^{-1}\Sigma G^{-1}$ the quartic term is contracted without forming a $p^4$ tensor:
$\psi_{abcd} S_{ab} S_{cd} = \operatorname{tr}(S\, \nabla^2 f)$ with
$f(\theta) = \operatorname{tr}(S\, \nabla^2\psi(\theta))$, and $\psi_{abe} S_{ab} = \nabla f$. Memory is
$O(p^3)$ (the third-derivative tensor and $\kappa$), time $O(p^4)$ for the contractions.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_finite, require_positive
from kl_lab.numerics import as_float_array, check_finite, check_floating, is_concrete, require

__all__ = [
    "DERIVATIVES",
    "RiskCoefficients",
    "StatsMoments",
    "risk_coefficients",
    "risk_coefficients_at",
    "predicted_risk",
    "stats_moments_from_samples",
    "stats_moments_from_distribution",
    "sample_risk_coefficients",
]

Array = jax.Array


class RiskCoefficients(NamedTuple):
    r"""$R(n) = c_1/n + c_2/n^2 + O(n^{-3})$, with the M-projection $\theta^*$ it was evaluated at.

    ``converged``, ``iterations`` and ``residual`` are those of ``family.natural_from_mean`` (the projection).

    Example:
      >>> RiskCoefficients._fields[:3]
      ('c1', 'c2', 'theta_star')
    """

    c1: Array
    c2: Array
    theta_star: Array
    converged: Array
    iterations: Array
    residual: Array


class StatsMoments(NamedTuple):
    r"""Mean $(p,)$, covariance $(p, p)$ and third joint cumulant $(p, p, p)$ of the sufficient statistic $t(X)$.

    The third joint cumulant is $\kappa_{ijk} = \mathbb{E}[(t_i - \eta_i)(t_j - \eta_j)(t_k - \eta_k)]$ with
    $\eta = \mathbb{E}\, t(X)$.

    Example:
      >>> StatsMoments._fields
      ('mean', 'cov', 'third_cumulant')
    """

    mean: Array
    cov: Array
    third_cumulant: Array


def require_covariance(cov: Array, name: str = "stats_cov") -> Array:
    r"""``cov`` symmetric positive semi-definite and finite, under the one bad-value policy: returns ``ok``.

    Tolerance: asymmetry $\le 64\, p\, \varepsilon \max|\mathrm{cov}|$ and smallest eigenvalue
    $\ge -64\, p\, \varepsilon \max|\lambda|$ (a few
    ulps of rounding per entry of a computed covariance, accumulated over ``p`` terms). Eagerly an invalid
    ``cov`` raises ``ValueError`` naming ``name``; under ``jit`` ``ok`` is a traced bool.
    """
    cov = jnp.asarray(cov)
    p = cov.shape[-1]
    eps = jnp.finfo(cov.dtype).eps
    finite = jnp.all(jnp.isfinite(cov))
    safe = jnp.where(finite, cov, jnp.eye(p, dtype=cov.dtype))
    scale = jnp.max(jnp.abs(safe))
    sym = jnp.max(jnp.abs(safe - safe.T)) <= 64 * p * eps * scale
    eig = jnp.linalg.eigvalsh(0.5 * (safe + safe.T))
    psd = eig[0] >= -64 * p * eps * jnp.max(jnp.abs(eig))
    ok = require(finite, f"{name} must be finite; got {{value}}", value=cov)
    ok = ok & require(sym, f"{name} must be symmetric (a covariance matrix); got {{value}}", value=cov)
    return ok & require(
        psd, f"{name} must be positive semi-definite (a covariance matrix); its smallest eigenvalue is {{e}}", e=eig[0]
    )


def _check_shapes(p: int, stats_cov: Array, stats_third_cumulant: Array) -> None:
    if jnp.shape(stats_cov) != (p, p):
        raise ValueError(f"stats_cov must have shape ({p}, {p}) for this family (dim {p}); got {jnp.shape(stats_cov)}")
    if jnp.shape(stats_third_cumulant) != (p, p, p):
        raise ValueError(
            f"stats_third_cumulant must have shape ({p}, {p}, {p}) for this family (dim {p}); "
            f"got {jnp.shape(stats_third_cumulant)}"
        )


DERIVATIVES = ("mean", "log_partition")


def fisher_fn(family: Any, derivatives: str):
    r"""$\theta \mapsto \nabla^2\psi(\theta)$ by autodiff, from the mean map or from $\psi$ itself (module
    docstring)."""
    if derivatives == "mean":
        return jax.jacfwd(family.mean)
    if derivatives == "log_partition":
        return jax.hessian(family.log_partition)
    raise ValueError(f"derivatives must be one of {DERIVATIVES}; got {derivatives!r}")


def risk_coefficients_at(
    family: Any, theta_star: Array, stats_cov: Array, stats_third_cumulant: Array, *, derivatives: str = "mean"
):
    r"""$(C_1, C_2)$ of the risk expansion at a known M-projection ``theta_star`` (module docstring).

    $C_1 = \tfrac12 \operatorname{tr}(G^{-1}\Sigma)$ and
    $C_2 = \tfrac13 \phi_{ijk}\kappa_{ijk} + \tfrac38 \phi_{ijkl}\Sigma_{ij}\Sigma_{kl}$ with
    $G = \nabla^2\psi(\theta^*)$.

    Args:
      family: an exponential family (``kl_lab.families`` member); only ``log_partition`` is used.
      theta_star: $(p,)$ natural parameter of the M-projection of the true law
        ($\nabla\psi(\theta^*) = \mathbb{E}_g\, t$).
      stats_cov: $(p, p)$ covariance $\Sigma$ of $t(X)$ under the true law.
      stats_third_cumulant: $(p, p, p)$ third joint cumulant $\kappa$ of $t(X)$ under the true law.
      derivatives: ``"mean"`` or ``"log_partition"``: where the autodiff starts (module docstring).

    Returns:
      ``(c1, c2)`` scalars in the dtype of the inputs. jit/vmap/grad-compatible. A Fisher matrix that is not
      positive definite gives NaN under jit; eagerly it raises ``ValueError``.

    Example:
      >>> from kl_lab.families import Exponential
      >>> c1, c2 = risk_coefficients_at(Exponential(), jnp.array([-1.0]), jnp.eye(1), jnp.full((1, 1, 1), 2.0))
      >>> round(float(c1), 6), round(float(c2), 6)  # well specified: 1/2 and 11/12
      (0.5, 0.916667)
    """
    theta_star = jnp.asarray(theta_star)
    check_floating(theta_star, "theta_star")
    if theta_star.ndim != 1:
        raise ValueError(f"theta_star must be a flat (p,) natural-parameter vector; got shape {theta_star.shape}")
    p = theta_star.shape[0]
    dtype = theta_star.dtype
    stats_cov = jnp.asarray(stats_cov, dtype)
    stats_third_cumulant = jnp.asarray(stats_third_cumulant, dtype)
    _check_shapes(p, stats_cov, stats_third_cumulant)
    fisher_fn(family, derivatives)  # validates ``derivatives``
    ok = require_covariance(stats_cov, "stats_cov") & require_finite(stats_third_cumulant, "stats_third_cumulant")
    ok = ok & require_finite(theta_star, "theta_star")
    c1, c2, g_inv = _coefficients(family, derivatives, theta_star, stats_cov, stats_third_cumulant)
    if is_concrete(g_inv):
        check_finite(g_inv, "the inverse Fisher matrix at theta_star (is hess psi positive definite?)")
    return guard(ok, (c1, c2))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _coefficients(family, derivatives, theta_star, stats_cov, stats_third_cumulant):
    p, dtype = theta_star.shape[0], theta_star.dtype
    hess = fisher_fn(family, derivatives)
    g = hess(theta_star)
    chol = jnp.linalg.cholesky(g)
    g_inv = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(p, dtype=dtype))
    g_inv = 0.5 * (g_inv + g_inv.T)
    s = g_inv @ stats_cov @ g_inv
    s = 0.5 * (s + s.T)
    c1 = 0.5 * jnp.sum(g_inv * stats_cov)
    t3 = jax.jacfwd(hess)(theta_star)  # psi_abc
    kappa_w = jnp.einsum("ijk,ai,bj,ck->abc", stats_third_cumulant, g_inv, g_inv, g_inv)
    cubic = -jnp.sum(t3 * kappa_w)  # phi_ijk kappa_ijk
    f = lambda th: jnp.sum(s * hess(th))  # tr(S hess psi)
    quartic_psi = jnp.sum(s * jax.hessian(f)(theta_star))  # psi_abcd S_ab S_cd
    u = jnp.einsum("abe,ab->e", t3, s)  # psi_abe S_ab
    pair_same = u @ g_inv @ u  # psi_abe G^ef psi_fcd S_ab S_cd
    pair_cross = jnp.einsum("ace,ef,fbd,ab,cd->", t3, g_inv, t3, s, s, optimize=True)
    quartic = -quartic_psi + pair_same + 2.0 * pair_cross  # phi_ijkl Sigma_ij Sigma_kl
    c2 = cubic / 3.0 + 0.375 * quartic
    return c1, c2, g_inv


def risk_coefficients(
    family: Any, stats_mean: Array, stats_cov: Array, stats_third_cumulant: Array, *, derivatives: str = "mean"
):
    r"""Project the true law onto the family, then expand its MLE risk to order $n^{-2}$.

    ``theta_star = family.natural_from_mean(stats_mean).theta`` (the M-projection is moment matching), then
    :func:`risk_coefficients_at`. Only the first three cumulants of $t(X)$ under the truth are needed (the
    fourth enters at order $n^{-3}$; module docstring).

    Args:
      family: an exponential family (a ``kl_lab.families`` member).
      stats_mean: ``(p,)`` mean of ``t(X)`` under the true law.
      stats_cov: ``(p, p)`` covariance of ``t(X)`` under the true law.
      stats_third_cumulant: ``(p, p, p)`` third joint cumulant of ``t(X)``.
      derivatives: ``'mean'`` or ``'log_partition'`` (as :func:`risk_coefficients_at`).

    Returns:
      :class:`RiskCoefficients` ``(c1, c2, theta_star, converged, iterations, residual)``; check ``converged``
      (eagerly a non-converged projection raises ``ValueError``).

    Example:
      >>> from kl_lab.families import Exponential
      >>> rc = risk_coefficients(Exponential(), jnp.array([2.0]), jnp.full((1, 1), 4.0), jnp.full((1, 1, 1), 16.0))
      >>> round(float(rc.c1), 6), round(float(rc.c2), 6), round(float(rc.theta_star[0]), 6)
      (0.5, 0.916667, -0.5)
    """
    stats_mean = as_float_array(stats_mean, "stats_mean")
    check_floating(stats_mean, "stats_mean")
    if stats_mean.shape != (family.dim,):
        raise ValueError(f"stats_mean must have shape ({family.dim},) for this family; got {stats_mean.shape}")
    stats_cov = as_float_array(stats_cov, "stats_cov").astype(stats_mean.dtype)
    stats_third_cumulant = as_float_array(stats_third_cumulant, "stats_third_cumulant").astype(stats_mean.dtype)
    _check_shapes(family.dim, stats_cov, stats_third_cumulant)
    ok = require_finite(stats_mean, "stats_mean") & require_covariance(stats_cov, "stats_cov")
    proj = family.natural_from_mean(stats_mean)
    if is_concrete(proj.converged) and not bool(jnp.all(proj.converged)):
        raise ValueError(
            f"the M-projection (family.natural_from_mean) did not converge for stats_mean; residual {proj.residual}"
        )
    theta = jnp.where(proj.converged, proj.theta, jax.lax.stop_gradient(family._interior_point(proj.theta.dtype)))
    c1, c2 = risk_coefficients_at(family, theta, stats_cov, stats_third_cumulant, derivatives=derivatives)
    res = RiskCoefficients(c1, c2, proj.theta, proj.converged, proj.iterations, proj.residual)
    return guard(ok & jnp.all(proj.converged), res)


def predicted_risk(c1: Array, c2: Array, n: Array) -> Array:
    r"""The two-term prediction $c_1/n + c_2/n^2$ (broadcasts over all three; $n > 0$).

    Args:
      c1: ``C_1 > 0``, the ``1/n`` coefficient of the risk (broadcasts).
      c2: ``C_2``, the ``1/n^2`` coefficient (broadcasts).
      n: sample size ``n > 0`` (broadcasts).

    Example:
      >>> round(float(predicted_risk(0.5, 11 / 12, 10.0)), 6)
      0.059167
    """
    ok = require_positive(n, "n")
    n = float_input(n, "n").astype(jnp.result_type(c1, c2, float))
    return guard(ok, c1 / n + c2 / n**2)


def _moments(t: Array, weights: Array, correction: tuple[float, float]) -> StatsMoments:
    mean = weights @ t
    u = t - mean[None, :]
    cov = correction[0] * jnp.einsum("s,si,sj->ij", weights, u, u)
    k3 = correction[1] * jnp.einsum("s,si,sj,sk->ijk", weights, u, u, u)
    return StatsMoments(mean, 0.5 * (cov + cov.T), k3)


def stats_moments_from_samples(family: Any, x: Array, *, unbiased: bool = True) -> StatsMoments:
    r"""Mean, covariance and third cumulant of $t(X)$ from i.i.d. observations ``x`` (leading axis = samples).

    ``unbiased=True`` gives the k-statistics (with $u_s = t(x_s) - \bar t$: covariance
    $\frac{1}{n-1}\sum_s u_s u_s^\top$, third cumulant $\frac{n}{(n-1)(n-2)} \sum_s u_s \otimes u_s \otimes u_s$),
    unbiased for the true law's cumulants; ``unbiased=False`` gives the cumulants of the empirical law itself
    (divisor $n$), which is what the bootstrap resamples from. Needs $n \ge 3$. Memory $O(np + p^3)$.

    Args:
      family: an exponential family (a ``kl_lab.families`` member). Its sufficient statistic ``t`` is evaluated at the
        samples.
      x: ``(n, ...)`` i.i.d. observations (leading axis; ``n >= 3``).
      unbiased: k-statistics (``True``) or the empirical law's cumulants.

    Example:
      >>> from kl_lab.families import Exponential
      >>> m = stats_moments_from_samples(Exponential(), jnp.array([1.0, 2.0, 4.0]))
      >>> round(float(m.mean[0]), 4), round(float(m.cov[0, 0]), 4), round(float(m.third_cumulant[0, 0, 0]), 4)
      (2.3333, 2.3333, 3.3333)
    """
    x = jnp.asarray(x)
    n = x.shape[0] if x.ndim else 0
    if n < 3:
        raise ValueError(f"x needs at least 3 observations along its leading axis; got shape {jnp.shape(x)}")
    t = jax.vmap(family.sufficient_stats)(x)
    if t.ndim != 2 or t.shape[1] != family.dim:
        raise ValueError(f"family.sufficient_stats must map one observation to ({family.dim},); got {t.shape[1:]}")
    check_floating(t, "sufficient statistics of x")
    w = jnp.full((n,), 1.0 / n, t.dtype)
    corr = (n / (n - 1), n**2 / ((n - 1) * (n - 2))) if unbiased else (1.0, 1.0)
    return _moments(t, w, corr)


@functools.partial(jax.jit, static_argnums=0)
def sample_risk_coefficients(family: Any, x: Array) -> tuple[StatsMoments, RiskCoefficients]:
    r"""The risk coefficients of a family fitted to a data set: the empirical law's cumulants of $t(X)$
    (:func:`stats_moments_from_samples` with ``unbiased=False``), then :func:`risk_coefficients` -- the law the
    data stand for is the empirical one (the p-n paper's data-set readings; the bootstrap resamples from it).

    Compiled once per (family, shape of ``x``): a column-by-column or dimension-by-dimension scan of one data set
    reuses the program.

    Args:
      family: an exponential family (a ``kl_lab.families`` member; hashable, a static argument).
      x: ``(n, ...)`` observations (leading axis; ``n >= 3``).

    Returns:
      ``(moments, coefficients)``: :class:`StatsMoments` of $t(X)$ and :class:`RiskCoefficients`.

    Example:
      >>> from kl_lab.families import Exponential
      >>> mom, coef = sample_risk_coefficients(Exponential(), jnp.array([1.0, 2.0, 4.0]))
      >>> round(float(mom.cov[0, 0]), 4), bool(coef.converged)
      (1.5556, True)
    """
    mom = stats_moments_from_samples(family, x, unbiased=False)
    return mom, risk_coefficients(family, *mom)


def stats_moments_from_distribution(family: Any, support: Array, log_weights: Array) -> StatsMoments:
    r"""Exact cumulants of $t(X)$ for a law given by atoms ``support`` (leading axis) and ``log_weights``.

    Covers a discrete law (its support, truncated where the tail mass is below the precision wanted) and a
    continuous law through a quadrature rule (nodes and log quadrature weights times the density). The
    weights are normalised here (``softmax``), so unnormalised log-masses are fine.

    Args:
      family: an exponential family (a ``kl_lab.families`` member). Its sufficient statistic ``t`` is evaluated at the
        atoms.
      support: ``(m, ...)`` atoms (leading axis).
      log_weights: ``(m,)`` log-masses (log space; unnormalised is fine).

    Example:
      >>> from kl_lab.families import Poisson
      >>> m = stats_moments_from_distribution(Poisson(), jnp.array([0.0, 1.0]), jnp.log(jnp.array([0.5, 0.5])))
      >>> round(float(m.mean[0]), 6), round(float(m.cov[0, 0]), 6), round(float(m.third_cumulant[0, 0, 0]), 6)
      (0.5, 0.25, 0.0)
    """
    support = jnp.asarray(support)
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1 or support.shape[:1] != log_weights.shape:
        raise ValueError(
            f"log_weights must be 1-D with one entry per atom of support; got shapes {jnp.shape(log_weights)} "
            f"and {jnp.shape(support)}"
        )
    t = jax.vmap(family.sufficient_stats)(support)
    w = jax.nn.softmax(log_weights.astype(jnp.result_type(t.dtype, float)))
    return _moments(t.astype(w.dtype), w, (1.0, 1.0))
