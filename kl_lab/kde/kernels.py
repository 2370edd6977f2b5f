r"""Radial kernels in $d$ dimensions: profiles, normalisations, variances and exact sampling.

Every kernel is radial, $K(u) = k(|u|) / Z_d$ with the profile $k$ below and
$Z_d = \int_{\mathbb{R}^d} k(|u|)\,du = S_{d-1} M_d$, where $S_{d-1} = 2\pi^{d/2}/\Gamma(d/2)$ is the
area of the unit sphere and $M_d = \int_0^\infty k(r)\, r^{d-1}\,dr$ the radial moment:

| kernel (aliases) | profile $k(r)$ | radial moment $M_d$ |
|---|---|---|
| `gaussian` | $e^{-r^2/2}$ | $2^{d/2-1}\Gamma(d/2)$ |
| `tophat` (`box`) | $1\{r<1\}$ | $1/d$ |
| `linear` (`tri`) | $(1-r)_+$ | $B(d, 2)$ |
| `epanechnikov` (`epa`) | $(1-r^2)_+$ | $\tfrac12 B(d/2, 2)$ |
| `biweight` | $(1-r^2)_+^2$ | $\tfrac12 B(d/2, 3)$ |
| `triweight` | $(1-r^2)_+^3$ | $\tfrac12 B(d/2, 4)$ |
| `tricube` | $(1-r^3)_+^3$ | $\tfrac13 B(d/3, 4)$ |
| `cosine` | $\cos(\pi r/2)\,1\{r<1\}$ | $\sum_{k\ge0} (-1)^k (\pi/2)^{2k} / ((2k)!\,(2k+d))$ |
| `laplace` (`exponential`) | $e^{-r}$ | $\Gamma(d)$ |
| `logistic` | $e^{-r}/(1+e^{-r})^2$ | $\Gamma(d)\,\eta(d-1)$ |
| `sigmoid` | $1/\cosh r$ | $2\Gamma(d)\,\beta(d)$ |
| `student_t` | $(1 + r^2/\nu)^{-(\nu+d)/2}$ | multivariate $t_\nu$ (closed form) |

The compactly supported profiles are $(1 - r^q)_+^p$, whose moment is $\tfrac1q B(d/q, p+1)$ (substitute
$t = r^q$). $\eta$ is Dirichlet's eta function ($\eta(0) = 1/2$) and $\beta$ Dirichlet's beta function;
both are alternating series summed with the acceleration of Cohen, Rodriguez Villegas & Zagier (2000),
Algorithm 1 (error $< 5.8^{-40}$). These are scikit-learn's `KernelDensity` kernels (`gaussian`,
`tophat`, `epanechnikov`, `exponential`, `linear`, `cosine`; same normalisation in every $d$, the
bandwidth is the support radius) and KDEpy's (`box`, `tri`, `epa`, `biweight`, `triweight`, `tricube`,
`cosine`, `logistic`, `sigmoid`, `exponential`, `gaussian`, Euclidean norm). KDEpy rescales each kernel
to unit variance in one dimension; multiply its bandwidth by $1/\sqrt{\mathrm{Var}}$ from
:func:`kernel_variance` to get ours.

Sampling (:func:`sample_unit_kernel`): $U = R\,\Theta$ with $\Theta$ uniform on the sphere and $R$ of
density $\propto k(r) r^{d-1}$: exactly $R^q \sim \mathrm{Beta}(d/q, p+1)$ for the compact polynomial
profiles with $q \le 2$ (Beta and Gamma variates of integer shape as sums of exponentials, the
$\Gamma(d/2)$ as $|Z|^2/2$), $R \sim \Gamma(d)$ for `laplace`, Gaussian and multivariate-$t$ draws
directly; by rejection from $\Gamma(d)$ (`logistic`: acceptance $(1+e^{-R})^{-2} \ge 1/4$; `sigmoid`:
$(1+e^{-2R})^{-1} \ge 1/2$), from $\mathrm{Beta}(d, 2)$ (`cosine`: acceptance
$\mathrm{sinc}((1-R)/2) \ge 2/\pi$) and from the triweight radius (`tricube`: acceptance
$\ge 8/27$). No Gamma sampler with a loop is needed, so the sampler compiles fast.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kl_lab.families.validation import require_positive

__all__ = [
    "KERNELS",
    "KERNEL_ALIASES",
    "canonical_kernel",
    "log_profile",
    "log_radial_moment",
    "log_kernel_norm",
    "kernel_variance",
    "sample_unit_kernel",
    "alternating_series",
]

# compact polynomial profiles (1 - r^q)_+^p: name -> (q, p)
_POLY = {"tophat": (1, 0), "linear": (1, 1), "epanechnikov": (2, 1), "biweight": (2, 2), "triweight": (2, 3),
         "tricube": (3, 3)}  # fmt: skip
KERNELS = ("gaussian", *_POLY, "cosine", "laplace", "logistic", "sigmoid", "student_t")
KERNEL_ALIASES = {"exponential": "laplace", "box": "tophat", "tri": "linear", "epa": "epanechnikov"}
_COMPACT = (*_POLY, "cosine")


def canonical_kernel(kernel: str) -> str:
    r"""The canonical name of ``kernel`` (aliases resolved); ``ValueError`` for an unknown name.

    The kernel is $K(u) = k(|u|)/Z_d$ with the profile $k$ of the module table.

    Args:
      kernel: a name in :data:`KERNELS` or a key of :data:`KERNEL_ALIASES` (e.g. scikit-learn's
        ``"exponential"``, KDEpy's ``"epa"``).

    Example:
      >>> canonical_kernel("exponential"), canonical_kernel("box")
      ('laplace', 'tophat')
    """
    name = KERNEL_ALIASES.get(kernel, kernel)
    if name not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS} or an alias in {sorted(KERNEL_ALIASES)}; got {kernel!r}")
    return name


def alternating_series(term, n: int = 40) -> float:
    r"""$\sum_{k \ge 0} (-1)^k a_k$ for a totally monotone sequence $a_k$ (e.g. $1/(k+1)^s$), accelerated.

    Cohen, Rodriguez Villegas & Zagier (2000), "Convergence acceleration of alternating series",
    Algorithm 1: relative error $\le 2/(3+\sqrt8)^n$ (so $n = 40$ reaches float64 precision). The
    Abel-summed value is returned for the divergent constant series ($a_k = 1$ gives $1/2$).

    Args:
      term: ``term(k)``, the $k$-th magnitude $a_k$ (a Python float).
      n: number of terms.

    Example:
      >>> round(alternating_series(lambda k: 1.0 / (k + 1)), 12)  # eta(1) = log 2
      0.69314718056
    """
    dd = (3.0 + math.sqrt(8.0)) ** n
    dd = 0.5 * (dd + 1.0 / dd)
    b, c, s = -1.0, -dd, 0.0
    for k in range(n):
        c = b - c
        s += c * term(k)
        b = (k + n) * (k - n) * b / ((k + 0.5) * (k + 1.0))
    return s / dd


def _log_radial_moment_static(kernel: str, d: int) -> float:
    if kernel == "gaussian":
        return (0.5 * d - 1.0) * math.log(2.0) + math.lgamma(0.5 * d)
    if kernel in _POLY:
        q, p = _POLY[kernel]
        return math.lgamma(d / q) + math.lgamma(p + 1.0) - math.lgamma(d / q + p + 1.0) - math.log(q)
    if kernel == "cosine":
        c2 = (0.5 * math.pi) ** 2
        total, t = 0.0, 1.0
        for k in range(60):  # |terms| sum to <= cosh(pi/2)/d; term 60 is below 1e-150
            total += t / (2 * k + d)
            t *= -c2 / ((2 * k + 1) * (2 * k + 2))
        return math.log(total)
    if kernel == "laplace":
        return math.lgamma(float(d))
    if kernel == "logistic":
        eta = alternating_series(lambda k: (k + 1.0) ** (1 - d))
        return math.lgamma(float(d)) + math.log(eta)
    if kernel == "sigmoid":
        beta = alternating_series(lambda k: (2.0 * k + 1.0) ** (-d))
        return math.log(2.0) + math.lgamma(float(d)) + math.log(beta)
    raise ValueError(f"no static radial moment for kernel {kernel!r}")


def _check_d(d) -> int:
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int (the dimension, static); got {d!r}")
    return d


def _check_df(kernel, df):
    if kernel != "student_t":
        return jnp.asarray(True)
    if df is None:
        raise ValueError("kernel 'student_t' needs df > 0; got df=None")
    return require_positive(df, "df", allow_inf=False)


def log_radial_moment(kernel: str, d: int, df=None):
    r"""$\log M_d = \log \int_0^\infty k(r)\, r^{d-1}\, dr$ for the profile $k$ of ``kernel`` (module table).

    Args:
      kernel: kernel name or alias.
      d: dimension (static positive int).
      df: degrees of freedom $\nu > 0$ (``student_t`` only; may be traced).

    Returns:
      a Python float (a JAX scalar for ``student_t``).

    Example:
      >>> import math
      >>> round(math.exp(log_radial_moment("epanechnikov", 1)), 12)  # int_0^1 (1 - r^2) dr
      0.666666666667
    """
    kernel, d = canonical_kernel(kernel), _check_d(d)
    if kernel != "student_t":
        return _log_radial_moment_static(kernel, d)
    ok = _check_df(kernel, df)
    nu = jnp.asarray(df, jnp.result_type(float))
    # Z_d = Gamma(nu/2) (nu pi)^(d/2) / Gamma((nu+d)/2) = S_{d-1} M_d
    log_z = gammaln(0.5 * nu) + 0.5 * d * jnp.log(nu * jnp.pi) - gammaln(0.5 * (nu + d))
    return jnp.where(ok, log_z - _log_sphere(d), jnp.nan)


def _log_sphere(d: int) -> float:
    return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


def log_kernel_norm(kernel: str, d: int, df=None):
    r"""$\log Z_d = \log \int_{\mathbb{R}^d} k(|u|)\,du = \log S_{d-1} + \log M_d$, so $\log K = \log k - \log Z_d$.

    Matches scikit-learn's ``KernelDensity`` normalisation for its six kernels in every $d$ and KDEpy's
    one-dimensional constants (e.g. biweight $15/16$, tricube $70/81$, cosine $\pi/4$).

    Args:
      kernel: kernel name or alias.
      d: dimension (static positive int).
      df: Student-t degrees of freedom.

    Example:
      >>> import math
      >>> round(math.exp(-log_kernel_norm("tricube", 1)), 12)  # KDEpy: 70/81
      0.864197530864
    """
    kernel, d = canonical_kernel(kernel), _check_d(d)
    return _log_sphere(d) + log_radial_moment(kernel, d, df)


def kernel_variance(kernel: str, d: int, df=None):
    r"""Per-coordinate variance of the unit kernel, $\mathrm{Var}(U_1) = \mathbb{E}|U|^2/d = M_{d+2} / (d\, M_d)$.

    ``student_t``: $\nu/(\nu-2)$ for $\nu > 2$, ``inf`` otherwise. A KDE with bandwidth $h$ has covariance
    $\mathrm{Cov}(\text{data}) + h^2 \mathrm{Var}(U_1) I$.

    Args:
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      d: dimension.
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).

    Returns:
      scalar ``Var(U_1)``.

    Example:
      >>> round(float(kernel_variance("epanechnikov", 1)), 12), round(float(kernel_variance("gaussian", 7)), 12)
      (0.2, 1.0)
    """
    kernel, d = canonical_kernel(kernel), _check_d(d)
    if kernel == "student_t":
        ok = _check_df(kernel, df)
        nu = jnp.asarray(df, jnp.result_type(float))
        return jnp.where(ok, jnp.where(nu > 2, nu / jnp.where(nu > 2, nu - 2.0, 1.0), jnp.inf), jnp.nan)
    return math.exp(_log_radial_moment_static(kernel, d + 2) - _log_radial_moment_static(kernel, d)) / d


def _radius(r2):
    """``sqrt(r2)`` with a zero (not infinite) derivative at 0: double where."""
    pos = r2 > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, r2, 1.0)), 0.0)


def log_profile(r2, d: int, kernel: str = "gaussian", df=None):
    r"""$\log k(r)$ at the squared scaled radius ``r2`` $= r^2 = |u|^2$ in dimension $d$ (unnormalised; module table).

    ``-inf`` outside a compact support (zero gradient there, never NaN); the radius is taken as a
    double-``where`` square root, so gradients are finite at $r = 0$.

    Args:
      r2: squared radii (any shape, $\ge 0$).
      d: dimension (static; only the Student-t profile depends on it).
      kernel: kernel name or alias.
      df: Student-t degrees of freedom (may be traced).

    Example:
      >>> [round(float(v), 6) for v in log_profile(jnp.array([0.25, 4.0]), 3, "biweight")]
      [-0.575364, -inf]
    """
    kernel = canonical_kernel(kernel)
    if kernel == "gaussian":
        return -0.5 * r2
    if kernel == "laplace":
        return -_radius(r2)
    if kernel == "logistic":
        r = _radius(r2)
        return -r - 2.0 * jax.nn.softplus(-r)
    if kernel == "sigmoid":
        r = _radius(r2)
        return math.log(2.0) - r - jax.nn.softplus(-2.0 * r)
    if kernel == "student_t":
        nu = jnp.asarray(df, r2.dtype)
        return -0.5 * (nu + d) * jnp.log1p(r2 / nu)
    inside = r2 < 1.0
    safe = jnp.where(inside, r2, 0.0)
    if kernel == "cosine":
        val = jnp.log(jnp.sin(0.5 * jnp.pi * (1.0 - _radius(safe))))  # cos(pi r/2), accurate near r = 1
    else:
        q, p = _POLY[kernel]
        if p == 0:
            val = jnp.zeros_like(safe)
        else:
            rq = safe if q == 2 else (_radius(safe) if q == 1 else safe * _radius(safe))
            val = p * jnp.log1p(-rq)
    return jnp.where(inside, val, -jnp.inf)


def _reject(key, propose, accept, shape, dtype):
    """Rejection sampling: redraw every unaccepted slot until all are accepted (a ``while_loop``)."""

    def draw(k):
        k1, k2 = jax.random.split(k)
        r = propose(k1)
        return r, jax.random.uniform(k2, shape, dtype) < accept(r)

    key, k0 = jax.random.split(key)
    r, ok = draw(k0)

    def body(state):
        r, ok, key = state
        key, k = jax.random.split(key)
        rn, okn = draw(k)
        take = ~ok & okn
        return jnp.where(take, rn, r), ok | okn, key

    r, _, _ = jax.lax.while_loop(lambda s: ~jnp.all(s[1]), body, (r, ok, key))
    return r


def _gamma_int(key, k, shape, dtype):
    """Gamma(k) for a static positive int ``k``: minus the log of a product of ``k`` uniforms (no loop)."""
    u = jax.random.uniform(key, (*shape, k), dtype, minval=jnp.finfo(dtype).tiny)
    return -jnp.sum(jnp.log(u), axis=-1)


def _beta_int(key, a, b, shape, dtype):
    """Beta(a, b) for static positive ints: ``G_a / (G_a + G_b)``."""
    ka, kb = jax.random.split(key)
    ga = _gamma_int(ka, a, shape, dtype)
    return ga / (ga + _gamma_int(kb, b, shape, dtype))


def _unit_radius(key, kernel, d, z2, dtype):
    """Radii ``R`` with density proportional to ``k(r) r^(d-1)`` (module docstring); ``z2 = |Z|^2``, ``Z ~ N(0, I_d)``.

    ``|Z|^2 / 2 ~ Gamma(d/2)`` is independent of the direction ``Z / |Z|`` and supplies the ``Gamma(d/2)`` of the
    Beta draws for ``q = 2``; integer-shape Gammas are sums of exponentials.
    """
    shape = z2.shape
    if kernel == "tophat":
        return jax.random.uniform(key, shape, dtype) ** (1.0 / d)
    if kernel in ("epanechnikov", "biweight", "triweight"):
        g = 0.5 * z2
        e = _gamma_int(key, _POLY[kernel][1] + 1, shape, dtype)
        return jnp.sqrt(g / (g + e))
    if kernel == "linear":
        return _beta_int(key, d, 2, shape, dtype)
    if kernel == "laplace":
        return _gamma_int(key, d, shape, dtype)
    if kernel == "logistic":
        return _reject(key, lambda k: _gamma_int(k, d, shape, dtype),
                       lambda r: jnp.exp(-2.0 * jax.nn.softplus(-r)), shape, dtype)  # fmt: skip
    if kernel == "sigmoid":
        return _reject(key, lambda k: _gamma_int(k, d, shape, dtype),
                       lambda r: jnp.exp(-jax.nn.softplus(-2.0 * r)), shape, dtype)  # fmt: skip
    if kernel == "tricube":
        # proposal: the triweight radius (R^2 ~ Beta(d/2, 4)); (1 - r^3)^3 / (1 - r^2)^3 = ((1 + r + r^2) / (1 + r))^3
        # lies in [1, 27/8], so accept with ((1 + r + r^2) / (1 + r))^3 / (27/8) >= 8/27
        def propose(k):
            kz, ke = jax.random.split(k)
            g = 0.5 * jnp.sum(jax.random.normal(kz, (*shape, d), dtype) ** 2, -1)
            return jnp.sqrt(g / (g + _gamma_int(ke, 4, shape, dtype)))

        return _reject(key, propose, lambda r: ((1.0 + r + r * r) / (1.0 + r)) ** 3 / 3.375, shape, dtype)
    # cosine: proposal Beta(d, 2), density prop. to r^(d-1) (1 - r); cos(pi r/2) / ((pi/2)(1 - r)) = sinc((1-r)/2)
    return _reject(key, lambda k: _beta_int(k, d, 2, shape, dtype), lambda r: jnp.sinc(0.5 * (1.0 - r)), shape, dtype)


def sample_unit_kernel(key, kernel: str, d: int, num: int, *, df=None, dtype=None):
    r"""``num`` exact draws $U \in \mathbb{R}^d$ from the normalised kernel $K(u) = k(|u|)/Z_d$: shape ``(num, d)``.

    Methods in the module docstring (exact for every kernel; rejection steps loop until every slot is
    accepted, a random but almost surely finite number of rounds). ``student_t``: $Z/\sqrt{G/\nu}$ with
    $G \sim \chi^2_\nu$ (``df`` may be traced).

    Args:
      key: PRNG key.
      kernel: kernel name or alias.
      d: dimension (static positive int).
      num: number of draws (static non-negative int).
      df: Student-t degrees of freedom.
      dtype: float dtype (default: JAX's default float).

    Example:
      >>> u = sample_unit_kernel(jax.random.PRNGKey(0), "tophat", 3, 1000)
      >>> u.shape, bool(jnp.all(jnp.sum(u**2, axis=1) < 1.0))
      ((1000, 3), True)
    """
    kernel, d = canonical_kernel(kernel), _check_d(d)
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ValueError(f"num must be a non-negative int (static); got {num!r}")
    ok = _check_df(kernel, df)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    out = _sample_unit(key, None if df is None else jnp.asarray(df, dtype), kernel, d, num, dtype)
    return jnp.where(ok, out, jnp.nan) if kernel == "student_t" else out


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _sample_unit(key, df, kernel, d, num, dtype):
    kz, kr = jax.random.split(key)
    z = jax.random.normal(kz, (num, d), dtype)
    if kernel == "gaussian":
        return z
    if kernel == "student_t":
        g = 2.0 * jax.random.gamma(kr, 0.5 * df, (num,), dtype)
        return z / jnp.sqrt(g / df)[:, None]
    z2 = jnp.sum(z**2, axis=1)
    return z / jnp.sqrt(z2)[:, None] * _unit_radius(kr, kernel, d, z2, dtype)[:, None]
