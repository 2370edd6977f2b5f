r"""Discrete members: Bernoulli, Binomial, Categorical, Poisson, Geometric.

Conventions (statistic, natural parameter, log-partition, base measure):

| member | $t(x)$ | $\theta$ | $\psi(\theta)$ | $\log h(x)$ |
|--------|--------|----------|----------------|-------------|
| Bernoulli | $x \in \{0, 1\}$ | $\mathrm{logit}\, p$ | $\mathrm{softplus}(\theta)$ | $0$ |
| Binomial($n$) | $0 \le x \le n$ | $\mathrm{logit}\, p$ | $n\, \mathrm{softplus}(\theta)$ | $\log \binom{n}{x}$ |
| Categorical($k$) | $\mathrm{onehot}(x)_{1:}$ | $\log(p_j / p_0)_{j \ge 1}$ | $\log(1 + \sum_j e^{\theta_j})$ | $0$ |
| Poisson | $x \in \{0, 1, \dots\}$ | $\log$ rate | $e^\theta$ | $-\log x!$ |
| Geometric | $x \in \{0, 1, \dots\}$ | $\log(1 - p) < 0$ ($x$ = failures) | $-\log(1 - e^\theta)$ | $0$ |

Categorical uses the minimal (reference-class 0) parametrisation so that its Fisher
information is invertible. Samples are returned as floating arrays (integer-valued).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlogy

from kl_lab.families.base import ExponentialFamily
from kl_lab.families.validation import in_range, positive, require_in_range, validated
from kl_lab.numerics import as_float_array, log1mexp, logsumexp

__all__ = ["Bernoulli", "Binomial", "Categorical", "Poisson", "Geometric", "poisson_expected_log_factorial"]


def _is_int(x):
    return x == jnp.floor(x)


def _safe_mul(a, b):
    """``a * b`` with ``0 * (+-inf) = 0``."""
    return jnp.where(a == 0, 0.0, a * b)


def _bernoulli_kl(tp, tq):
    # sum over x in {0, 1} of p_x (log p_x - log q_x); log p_1 = -softplus(-theta), log p_0 = -softplus(theta)
    lp = jnp.stack([-jax.nn.softplus(tp[0]), -jax.nn.softplus(-tp[0])])
    lq = jnp.stack([-jax.nn.softplus(tq[0]), -jax.nn.softplus(-tq[0])])
    p = jnp.stack([jax.nn.sigmoid(-tp[0]), jax.nn.sigmoid(tp[0])])
    return jnp.maximum(jnp.sum(_safe_mul(p, lp - lq)), 0.0)


def _renyi_with(fam, kernel, theta_p, theta_q, alpha):
    """``fam.renyi`` through a member's own kernel ``(tp, tq, a)`` (degenerate members): the checks of the base."""
    ok = require_in_range(alpha, "alpha", 0.0, np.inf, low_inclusive=False, high_inclusive=False)
    tp, tq = fam._theta(theta_p, "theta_p"), fam._theta(theta_q, "theta_q")
    a = jnp.where(ok, jnp.asarray(alpha, tp.dtype), jnp.nan)
    if jnp.ndim(a) != 0:
        raise ValueError(f"alpha must be a scalar; got shape {jnp.shape(a)}")
    return fam._jmap("renyi", kernel, tp, tq, a, core=(1, 1, 0))


def _bernoulli_renyi(tp, tq, a):
    lp = jnp.stack([-jax.nn.softplus(tp[0]), -jax.nn.softplus(-tp[0])])
    lq = jnp.stack([-jax.nn.softplus(tq[0]), -jax.nn.softplus(-tq[0])])
    one_ = a == 1
    a_safe = jnp.where(one_, 0.5, a)
    terms = jnp.where(lp == -jnp.inf, -jnp.inf, a_safe * lp + _safe_mul(1 - a_safe, lq))
    val = jnp.maximum(logsumexp(terms) / (a_safe - 1), 0.0)
    return jnp.where(one_, _bernoulli_kl(tp, tq), val)


class Bernoulli(ExponentialFamily):
    r"""Bernoulli(p): ``theta = logit p``; ``mean = p``, ``fisher = p (1 - p)``.

    The degenerate laws are members: ``theta = +inf`` is the point mass at 1 ($p = 1$), ``-inf`` at 0
    (``from_params(1.0)``, ``from_params(0.0)``). KL, Rényi and entropy are computed from
    $\log p_1 = -\mathrm{softplus}(-\theta)$ and $\log p_0 = -\mathrm{softplus}(\theta)$ with $0 \log 0 = 0$:

    $$\mathrm{KL}(p \| q) = \sum_{x \in \{0,1\}} p_x (\log p_x - \log q_x),$$

    which is $+\infty$ when $q$ puts no mass where $p$ does and 0 between equal point masses; entropy 0 at
    the point masses.

    Example:
      >>> from kl_lab.families import Bernoulli
      >>> fam = Bernoulli()
      >>> float(fam.kl(fam.from_params(0.5), fam.from_params(1.0)))   # q = point mass at 1
      inf
      >>> round(float(fam.kl(fam.from_params(1.0), fam.from_params(0.5))), 6)   # log 2
      0.693147
    """

    dim = 1
    discrete = True
    extended_domain = True
    domain = "theta = logit p in [-inf, +inf]"

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def _in_support(self, x):
        return (x == 0) | (x == 1)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.ones((), theta.dtype)

    def _in_domain(self, theta):
        return ~jnp.isnan(theta[0])

    def _psi(self, theta):
        return jax.nn.softplus(theta[0])

    def _log_density(self, x, theta):
        return jnp.where(x == 1, -jax.nn.softplus(-theta[0]), -jax.nn.softplus(theta[0]))

    def _mean(self, theta):
        return jax.nn.sigmoid(theta)

    def _fisher(self, theta):
        return (jax.nn.sigmoid(theta) * jax.nn.sigmoid(-theta))[:, None]

    def _entropy(self, theta):
        p1, p0 = jax.nn.sigmoid(theta[0]), jax.nn.sigmoid(-theta[0])
        return _safe_mul(p1, jax.nn.softplus(-theta[0])) + _safe_mul(p0, jax.nn.softplus(theta[0]))

    def kl(self, theta_p, theta_q):
        r"""$\sum_x p_x(\log p_x - \log q_x)$ in log-sigmoid form (class docstring; $+\infty$ allowed).

        Example:
          >>> from kl_lab.families import Bernoulli
          >>> fam = Bernoulli()
          >>> round(float(fam.kl(fam.from_params(0.5), fam.from_params(0.25))), 6)   # (log 2 + log(2/3)) / 2
          0.143841
        """
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")
        return self._jmap("kl", _bernoulli_kl, tp, tq, core=(1, 1))

    def renyi(self, theta_p, theta_q, alpha):
        r"""$\frac{1}{\alpha - 1}\log\sum_x p_x^\alpha q_x^{1-\alpha}$ (terms with $p_x = 0$ dropped), $\alpha > 0$.

        Example:
          >>> from kl_lab.families import Bernoulli
          >>> fam = Bernoulli()
          >>> round(float(fam.renyi(fam.from_params(1.0), fam.from_params(0.25), 2.0)), 6)   # -log q(1) = log 4
          1.386294
        """
        return _renyi_with(self, _bernoulli_renyi, theta_p, theta_q, alpha)

    def bhattacharyya(self, theta_p, theta_q):
        r"""$-\log\sum_x \sqrt{p_x q_x}$ = Rényi(1/2) / 2.

        Example:
          >>> from kl_lab.families import Bernoulli
          >>> fam = Bernoulli()
          >>> round(float(fam.bhattacharyya(fam.from_params(1.0), fam.from_params(0.25))), 6)   # -log sqrt(1/4)
          0.693147
        """
        return 0.5 * self.renyi(theta_p, theta_q, 0.5)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, jnp.log(eta) - jnp.log1p(-eta))

    def _sample(self, key, theta, shape):
        return jax.random.bernoulli(key, jax.nn.sigmoid(theta[0]), shape).astype(theta.dtype)

    @validated(p=in_range(0.0, 1.0))
    def from_params(self, p):
        """``theta = logit p`` from the success probability ``p`` in [0, 1] (0 and 1: ``-inf``, ``+inf``).

        Example:
          >>> from kl_lab.families import Bernoulli
          >>> [float(Bernoulli().from_params(p)[0]) for p in (0.0, 0.5, 1.0)]
          [-inf, 0.0, inf]
        """
        p = as_float_array(p, "p")
        return (jnp.log(p) - jnp.log1p(-p))[..., None]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.BernoulliLogits(logits=self._theta(theta)[..., 0])


class Binomial(ExponentialFamily):
    """Binomial(trials, p) with a fixed number of trials: ``theta = logit p``, ``log h = log C(n, x)``.

    Examples:
      >>> from kl_lab.families import Binomial
      >>> fam = Binomial(10)
      >>> round(float(fam.mean(fam.from_params(0.3))[0]), 6)   # n p
      3.0
    """

    dim = 1
    discrete = True

    def __init__(self, trials: int):
        if not isinstance(trials, (int, np.integer)) or trials < 1:
            raise ValueError(f"trials must be a positive int; got {trials!r}")
        self.trials = int(trials)

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def log_base_measure(self, x):
        x = as_float_array(x, "x")
        n = self.trials
        return gammaln(n + 1.0) - gammaln(x + 1) - gammaln(n - x + 1)

    def _in_support(self, x):
        return _is_int(x) & (x >= 0) & (x <= self.trials)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(self.trials, theta.dtype)

    def _psi(self, theta):
        return self.trials * jax.nn.softplus(theta[0])

    def _mean(self, theta):
        return self.trials * jax.nn.sigmoid(theta)

    def _expected_log_base_measure(self, theta):
        k = jnp.arange(self.trials + 1, dtype=theta.dtype)
        log_pmf = k * theta[0] + self.log_base_measure(k) - self._psi(theta)
        return jnp.sum(jnp.exp(log_pmf) * self.log_base_measure(k))

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta) / self.trials
        return self._closed_form_result(eta * self.trials, jnp.log(eta) - jnp.log1p(-eta))

    def _sample(self, key, theta, shape):
        p = jax.nn.sigmoid(theta[0])
        return jnp.sum(jax.random.bernoulli(key, p, shape + (self.trials,)), axis=-1).astype(theta.dtype)

    @validated(p=in_range(0.0, 1.0, low_inclusive=False, high_inclusive=False))
    def from_params(self, p):
        p = as_float_array(p, "p")
        return (jnp.log(p) - jnp.log1p(-p))[..., None]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.BinomialLogits(logits=self._theta(theta)[..., 0], total_count=self.trials)

    def __repr__(self):
        return f"Binomial(trials={self.trials})"


class Categorical(ExponentialFamily):
    """Categorical over ``{0, ..., k-1}``: ``t(x) = onehot(x)[1:]``, ``theta_j = log(p_j / p_0)``, dim ``k - 1``.

    Examples:
      >>> import math
      >>> from kl_lab.families import Categorical
      >>> fam = Categorical(3)
      >>> round(float(fam.entropy(fam.from_params([1 / 3, 1 / 3, 1 / 3]))), 6) == round(math.log(3), 6)
      True
    """

    discrete = True

    def __init__(self, k: int):
        if not isinstance(k, (int, np.integer)) or k < 2:
            raise ValueError(f"k must be an int >= 2; got {k!r}")
        self.k = int(k)
        self.dim = self.k - 1

    def sufficient_stats(self, x):
        x = jnp.asarray(x)
        levels = jnp.arange(1, self.k).reshape((1,) * x.ndim + (self.k - 1,))
        return (x[..., None] == levels).astype(jnp.result_type(float))

    def _in_support(self, x):
        return _is_int(x) & (x >= 0) & (x < self.k)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(self.k - 1, theta.dtype)

    def logits(self, theta):
        """Full logits ``(0, theta_1, ..., theta_{k-1})``, shape ``(..., k)``.

        Example:
          >>> from kl_lab.families import Categorical
          >>> [float(v) for v in Categorical(3).logits(jnp.array([1.0, 2.0]))]
          [0.0, 1.0, 2.0]
        """
        theta = self._theta(theta)
        return jnp.concatenate([jnp.zeros(theta.shape[:-1] + (1,), theta.dtype), theta], axis=-1)

    def _psi(self, theta):
        return logsumexp(jnp.concatenate([jnp.zeros((1,), theta.dtype), theta]))

    def _mean(self, theta):
        return jax.nn.softmax(jnp.concatenate([jnp.zeros((1,), theta.dtype), theta]))[1:]

    def _fisher(self, theta):
        p = self._mean(theta)
        return jnp.diag(p) - jnp.outer(p, p)

    def _entropy(self, theta):
        log_p = jax.nn.log_softmax(jnp.concatenate([jnp.zeros((1,), theta.dtype), theta]))
        return -jnp.sum(jnp.exp(log_p) * log_p)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        p0 = 1 - jnp.sum(eta, axis=-1, keepdims=True)
        return self._closed_form_result(eta, jnp.log(eta) - jnp.log(p0))

    def _sample(self, key, theta, shape):
        logits = jnp.concatenate([jnp.zeros((1,), theta.dtype), theta])
        return jax.random.categorical(key, logits, shape=shape).astype(theta.dtype)

    def from_params(self, probs):
        """``theta`` from a probability vector of length ``k``.

        Example:
          >>> from kl_lab.families import Categorical
          >>> [round(float(v), 6) for v in Categorical(3).from_params([0.5, 0.25, 0.25])]   # log(p_j / p_0)
          [-0.693147, -0.693147]
        """
        log_p = jnp.log(as_float_array(probs, "probs"))
        return log_p[..., 1:] - log_p[..., :1]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.CategoricalLogits(logits=self.logits(theta))

    def __repr__(self):
        return f"Categorical(k={self.k})"


_WINDOW = 2048  # terms of the windowed Poisson sum: covers mean +- 25 sd for rate <= 1600
_RATE_SWITCH = 1600.0


def poisson_expected_log_factorial(rate):
    r"""$\mathbb{E}[\log X!]$ for $X \sim \mathrm{Poisson}(r)$ (``rate`` $= r$), accurate to ~1e-13 absolute in
    float64:

    $$\mathbb{E}[\log X!] = \sum_{k \ge 0} e^{-r} \frac{r^k}{k!} \log k!.$$

    $r \le 1600$: the sum over a fixed window of 2048 integers starting at $\max(0, \lfloor r \rfloor - 1024)$
    (the mass outside is below $e^{-300}$). Larger rates: the Poisson entropy
    $H = \tfrac12 \log(2 \pi e r) - \frac{1}{12 r} - \frac{1}{24 r^2} - \frac{19}{360 r^3} + O(r^{-4})$
    (Evans & Boersma 1988) and $\mathbb{E}[\log X!] = H - r + r \log r$; the next term is below 1e-12 there.
    Tested against mpmath. Rate 0: 0 (the point mass at 0).

    Args:
      rate: the Poisson rate ``r >= 0`` (any shape).

    Returns:
      ``E[log X!]`` (nats), shape of ``rate``; ``0`` at ``r = 0``.

    Example:
      >>> round(float(poisson_expected_log_factorial(1.0)), 6)   # mpmath: 0.304842242256252
      0.304842
    """
    r = as_float_array(rate, "rate")
    big = r > _RATE_SWITCH
    rs = jnp.where(big, 1.0, r)
    k0 = jnp.maximum(jnp.floor(rs) - _WINDOW // 2, 0.0)
    k = k0[..., None] + jnp.arange(_WINDOW, dtype=r.dtype)
    lf = gammaln(k + 1)
    log_pmf = xlogy(k, rs[..., None]) - rs[..., None] - lf  # rate 0: the point mass at 0
    small = jnp.sum(jnp.exp(log_pmf) * lf, axis=-1)
    rb = jnp.where(big, r, _RATE_SWITCH + 1.0)
    h = 0.5 * jnp.log(2 * jnp.pi * jnp.e * rb) - 1 / (12 * rb) - 1 / (24 * rb**2) - 19 / (360 * rb**3)
    return jnp.where(big, h - rb + rb * jnp.log(rb), small)


def _log_expm1_minus(d):
    """``log(expm1(d) - d)`` for every real ``d`` (``-inf`` at 0): series for ``|d| < 1/2``, no overflow."""
    small = jnp.abs(d) < 0.5
    ds = jnp.where(small, d, 0.5)
    acc = jnp.ones_like(ds)
    for k in range(19, 2, -1):  # expm1(d) - d = d^2/2 (1 + d/3 (1 + d/4 (...))): terms to d^19/19!, < 1e-17 relative
        acc = 1.0 + ds / k * acc
    log_series = 2.0 * jnp.log(jnp.abs(jnp.where(ds == 0, 1.0, ds))) - jnp.log(2.0) + jnp.log(acc)
    log_series = jnp.where(ds == 0, -jnp.inf, log_series)
    big = d > 1.0
    db = jnp.where(big, d, 2.0)
    log_big = db + jnp.log1p(-(1.0 + db) * jnp.exp(-db))
    dm = jnp.where(small | big, -1.0, d)
    log_mid = jnp.log(jnp.expm1(dm) - dm)
    return jnp.where(small, log_series, jnp.where(big, log_big, log_mid))


def _poisson_kl(tp, tq):
    zero_p, zero_q = tp[0] == -jnp.inf, tq[0] == -jnp.inf
    d = jnp.where(zero_p | zero_q, 0.0, tq[0] - tp[0])
    log_g = _log_expm1_minus(d)
    finite = jnp.isfinite(log_g)
    val = jnp.where(finite, jnp.exp(tp[0] + jnp.where(finite, log_g, 0.0)), 0.0)
    # rate_p = 0: KL(delta_0 || Poisson(rate_q)) = -log q(0) = rate_q; rate_q = 0 < rate_p: +inf
    val = jnp.where(zero_q, jnp.where(zero_p, 0.0, jnp.inf), val)
    return jnp.where(zero_p & ~zero_q, jnp.exp(tq[0]), val)


def _poisson_renyi(tp, tq, a):
    # sum_k p_k^a q_k^(1-a) = exp(rate_p^a rate_q^(1-a) - a rate_p - (1-a) rate_q); the generic psi formula makes
    # (-inf) - (-inf) = NaN at rate 0. Rate-0 (delta_0) cases: p = delta_0: -log q(0) = rate_q for every order;
    # q = delta_0 != p: a rate_p / (1 - a) for a < 1, +inf for a >= 1; both delta_0: 0.
    zero_p, zero_q = tp[0] == -jnp.inf, tq[0] == -jnp.inf
    one_ = a == 1
    a_s = jnp.where(one_, 0.5, a)
    lp, lq = jnp.where(zero_p, 0.0, tp[0]), jnp.where(zero_q, 0.0, tq[0])
    rp, rq = jnp.exp(lp), jnp.exp(lq)
    val = jnp.maximum((jnp.exp(a_s * lp + (1 - a_s) * lq) - a_s * rp - (1 - a_s) * rq) / (a_s - 1), 0.0)
    to_point = jnp.where(a_s < 1, a_s * rp / jnp.where(a_s < 1, 1 - a_s, 1.0), jnp.inf)
    val = jnp.where(zero_p, jnp.where(zero_q, 0.0, rq), jnp.where(zero_q, to_point, val))
    return jnp.where(one_, _poisson_kl(tp, tq), val)


class Poisson(ExponentialFamily):
    r"""Poisson(rate): ``theta = log rate``, ``psi = exp theta``, ``log h(x) = -log x!``.

    Rate 0 is a member: ``theta = -inf`` (``from_params(0.0)``) is the point mass at 0, with entropy 0,
    $\mathrm{KL}(\delta_0 \| \mathrm{Poisson}(\lambda)) = \lambda$ and
    $\mathrm{KL}(\mathrm{Poisson}(\lambda) \| \delta_0) = +\infty$ for $\lambda > 0$.

    Example:
      >>> from kl_lab.families import Poisson
      >>> fam = Poisson()
      >>> float(fam.kl(fam.from_params(0.0), fam.from_params(2.5)))
      2.5
    """

    dim = 1
    discrete = True
    extended_domain = True
    domain = "theta = log rate in [-inf, +inf)"

    def _in_domain(self, theta):
        return theta[0] < jnp.inf

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(jnp.inf, theta.dtype)

    def _frame(self, theta):
        rate = jnp.exp(theta[0])
        return rate, jnp.sqrt(rate)

    def kl(self, theta_p, theta_q):
        """``KL = rate_p (expm1(d) - d)``, ``d = theta_q - theta_p``, as ``exp(theta_p + log(expm1(d) - d))``.

        In log space: the Bregman form ``e^tq - e^tp - (tq - tp) e^tp`` is ``inf - inf = NaN`` once
        ``e^tp`` overflows (``theta_p = 710``), where the KL is ``+inf`` or a large finite number.

        Example:
          >>> from kl_lab.families import Poisson
          >>> fam = Poisson()
          >>> round(float(fam.kl(fam.from_params(2.0), fam.from_params(1.0))), 6)   # 2 log 2 - 1
          0.386294
        """
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")
        return self._jmap("kl", _poisson_kl, tp, tq, core=(1, 1))

    def renyi(self, theta_p, theta_q, alpha):
        r"""Rényi divergence of order $\alpha > 0$ ($\alpha = 1$: KL) between Poisson laws,

        $$D_\alpha = \frac{\alpha\lambda_p + (1-\alpha)\lambda_q - \lambda_p^\alpha\lambda_q^{1-\alpha}}{1-\alpha},$$

        with the rate-0 member: $D_\alpha(\delta_0 \| \mathrm{Poisson}(\lambda)) = \lambda$ for every order,
        $D_\alpha(\delta_0 \| \delta_0) = 0$, and $D_\alpha(\mathrm{Poisson}(\lambda) \| \delta_0)$ is
        $\alpha\lambda/(1 - \alpha)$ for $\alpha < 1$ and $+\infty$ for $\alpha \ge 1$.

        Example:
          >>> from kl_lab.families import Poisson
          >>> fam = Poisson()
          >>> float(fam.renyi(fam.from_params(0.0), fam.from_params(0.0), 2.0))   # identical point masses
          0.0
        """
        return _renyi_with(self, _poisson_renyi, theta_p, theta_q, alpha)

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def log_base_measure(self, x):
        return -gammaln(as_float_array(x, "x") + 1)

    def _in_support(self, x):
        return _is_int(x) & (x >= 0)

    def _psi(self, theta):
        return jnp.exp(theta[0])

    def _mean(self, theta):
        return jnp.exp(theta)

    def _expected_log_base_measure(self, theta):
        return -poisson_expected_log_factorial(jnp.exp(theta[0]))

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, jnp.log(eta))

    def _sample(self, key, theta, shape):
        return jax.random.poisson(key, jnp.exp(theta[0]), shape).astype(theta.dtype)

    @validated(rate=positive(allow_zero=True))
    def from_params(self, rate):
        """``theta = log rate``; rate 0 gives ``-inf`` (the point mass at 0).

        Example:
          >>> from kl_lab.families import Poisson
          >>> [float(Poisson().from_params(r)[0]) for r in (0.0, 1.0)]
          [-inf, 0.0]
        """
        return jnp.log(as_float_array(rate, "rate"))[..., None]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Poisson(jnp.exp(self._theta(theta)[..., 0]))


class Geometric(ExponentialFamily):
    """Geometric(p) counting failures before the first success, ``P(x) = p (1-p)^x``.

    ``theta = log(1 - p) < 0``, ``psi = -log(1 - e^theta)``, ``mean = e^theta / (1 - e^theta)``.

    Examples:
      >>> from kl_lab.families import Geometric
      >>> fam = Geometric()
      >>> round(float(fam.mean(fam.from_params(0.25))[0]), 4)   # (1 - p) / p failures
      3.0
    """

    dim = 1
    discrete = True
    domain = "theta < 0"

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def _in_support(self, x):
        return _is_int(x) & (x >= 0)

    def _in_domain(self, theta):
        return theta[0] < 0

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(jnp.inf, theta.dtype)

    def _frame(self, theta):
        m = 1 / jnp.expm1(-theta[0])
        return m, jnp.sqrt(m * (1 + m))

    def _interior_point(self, dtype):
        return jnp.full((1,), -1.0, dtype)

    def _psi(self, theta):
        return -log1mexp(theta[0])

    def _mean(self, theta):
        return 1 / jnp.expm1(-theta)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, jnp.log(eta) - jnp.log1p(eta))

    def _sample(self, key, theta, shape):
        u = jax.random.uniform(key, shape, theta.dtype, minval=jnp.finfo(theta.dtype).tiny)
        return jnp.floor(jnp.log(u) / theta[0])

    @validated(p=in_range(0.0, 1.0, low_inclusive=False, high_inclusive=False))
    def from_params(self, p):
        return jnp.log1p(-as_float_array(p, "p"))[..., None]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.GeometricProbs(-jnp.expm1(self._theta(theta)[..., 0]))
