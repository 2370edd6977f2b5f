r"""f-distill: the weight $h(r) = f''(r)\,r^2$ of the f-divergence distribution-matching gradient.

Source: Xu, Nie & Vahdat (2025), "One-step Diffusion Models with f-Divergence
Distribution Matching", arXiv:2502.15681v2, Sec. 3 and Table 1. With teacher
$p$, student $q_\theta$ = push-forward of $z$ through $x = G_\theta(z)$,
$r = p / q$ and $D_f(p \| q) = \mathbb{E}_q f(r)$:

$$\nabla_\theta D_f(p \| q_\theta) = \mathbb{E}_z\big[h(r(x))\,(\nabla_x \log q(x) - \nabla_x \log p(x))\,
\partial_\theta G_\theta(z)\big], \qquad h(r) = f''(r)\,r^2 .$$

Derivation (checked numerically in ``experiments/fdistill_weights.py``): with
$\phi = f(r) - r f'(r)$, $\nabla_\theta D_f = \nabla_\theta \mathbb{E}_{q_\theta}[\phi]$ at
fixed $\phi$, and $\nabla_x \phi = -r^2 f''(r)\,\nabla_x \log r$; the
reparametrisation $x = G_\theta(z)$ gives the identity. The generators
($f$, $f'$, $f''$, $h$) are :mod:`kl_lab.divergences.generators`, computed from
$\log r$. Normalisation: kl_lab's ``js`` is half of the table's
(its $h$ is $r / (2(r+1))$); ``squared_hellinger``'s $h = \sqrt r / 4$ equals the
table's. Neither matters for any normalised quantity.

Table 1: reverse KL $h = 1$; softened RKL $1/(r+1)$; JS $r/(r+1)$;
squared Hellinger $\sqrt r / 4$; forward KL $r$; Jeffreys $r + 1$. The
weights' spread under the student, $\mathrm{Var}_q[h] / \mathbb{E}_q[h]^2$, is the variance
factor of the gradient: for $q = N(0, 1)$, $p = N(\mu, 1)$ it is
$e^{\mu^2} - 1$ (forward KL), $(e^{\mu^2} - 1)/4$ (Jeffreys) and
$e^{\mu^2/4} - 1$ (Hellinger) [derived: $\mathbb{E}_q r^s = e^{s(s-1) \mu^2 / 2}$].

**The practical estimator** (:func:`practical_fdistill_weight`). The authors'
released implementation (NVIDIA FastGen, ``fastgen/methods/distribution_matching/f_distill.py``,
``FdistillModel._get_f_div_weighting_h``; defaults in ``fastgen/configs/methods/config_f_distill.py``)
does not use $h(r)$ as written: it (1) clamps the discriminator logit $\log r$ to $[-10, 10]$,
(2) clips $r$ to ``[ratio_lower, ratio_upper] = [0.1, 20]``, (3) divides $r$ by its mean in its
noise-level bin (``bin_num = 10`` bins of $t$; an EMA over steps with ``ratio_ema_rate = 0`` by
default, i.e. the current batch's bin mean), and (4) divides $h$ by its batch mean. With the clip,
$r \in [a, b]$ and the weight variance is bounded for every teacher:
$\mathrm{Var}[r]/\mathbb{E}[r]^2 \le (b - a)^2 / (4ab)$ (Kantorovich), $= 49.5$ for $[0.1, 20]$, so
"forward KL / Jeffreys weights blow up" holds only for the exact weight, not the practical one.
Gaussian closed forms of the clipped moments: :func:`gaussian_clipped_ratio_moment`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from kl_lab.divergences.generators import Generator
from kl_lab.numerics import as_input, check_finite, check_floating, check_positive, check_same_shape, finish, require

Array = jax.Array

__all__ = [
    "FASTGEN_RATIO_RANGE",
    "FASTGEN_LOGIT_CLAMP",
    "fdistill_weight",
    "fdistill_surrogate_loss",
    "practical_fdistill_weight",
    "normalised_weight_variance",
    "gaussian_clipped_ratio_moment",
    "weight_tail_exponents",
]

#: the ratio clip of the released f-distill code (FastGen ``config_f_distill``: ``ratio_lower``, ``ratio_upper``)
FASTGEN_RATIO_RANGE = (0.1, 20.0)
#: the clamp of the discriminator logit ``log r`` before ``exp`` in the released code
FASTGEN_LOGIT_CLAMP = 10.0


def _check_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a kl_lab.divergences.generators.Generator; got {type(generator).__name__}")


def _not_nan(x: Array, name: str):
    """No NaN in ``x`` (``+-inf`` log ratios are legitimate: ``r = 0`` or ``r = inf``), under the one policy."""
    count = jnp.sum(jnp.isnan(x))
    return require(count == 0, f"{name} must not contain NaN; got {{count}} NaN entries", count=count)


def _check_range(ratio_range):
    if ratio_range is None:
        return None
    try:
        lo, hi = (float(v) for v in ratio_range)
    except (TypeError, ValueError):
        raise ValueError(f"ratio_range must be a pair (lower, upper) of floats or None; got {ratio_range!r}") from None
    if not 0.0 < lo < hi:
        raise ValueError(f"ratio_range must satisfy 0 < lower < upper; got {ratio_range!r}")
    return lo, hi


def _normalised(weights, like):
    if weights is None:
        return jnp.full(like.shape, 1.0 / like.shape[-1], like.dtype)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def fdistill_weight(generator: Generator, log_ratio: Array) -> Array:
    r"""The exact f-distill weight $h(r) = f''(r)\,r^2$ at $r = e^{\text{log\_ratio}}$ (teacher over student).

    Source: arXiv:2502.15681v2, Table 1 (``generator.weight``, computed in log space). Entries of
    ``log_ratio`` may be $\pm\infty$ ($r = 0$ or $r = \infty$); NaN raises eagerly (NaN under ``jit``).

    Example:
      >>> from kl_lab.divergences import generators as gen
      >>> [round(float(fdistill_weight(g, jnp.log(4.0))), 4) for g in (gen.kl, gen.jeffreys, gen.reverse_kl)]
      [4.0, 5.0, 1.0]
    """
    _check_generator(generator)
    log_ratio = as_input(log_ratio, "log_ratio")
    check_floating(log_ratio, "log_ratio")
    return finish(_not_nan(log_ratio, "log_ratio"), generator.weight(log_ratio))


def fdistill_surrogate_loss(
    generator: Generator, log_ratio: Array, score_student: Array, score_teacher: Array, samples: Array
) -> Array:
    r"""A loss whose $\theta$-gradient is the f-distill gradient estimate on a batch.

    $$L(\theta) = \frac1N \sum_n \sum_d \operatorname{sg}\big[h(r_n)\,(s_q(x_n) - s_p(x_n))\big]_d\, x_{n,d}(\theta)$$

    where $x_n = G_\theta(z_n)$ are the generator's ``samples`` (``[N, D]`` or ``[N]``; they carry
    the gradient), ``score_*`` are $\nabla_x \log$ density at them (same shape) and
    ``log_ratio`` $= \log p(x_n) - \log q(x_n)$ (``[N]``). $\operatorname{sg}$ is ``stop_gradient``;
    the value of $L$ is meaningless, only its gradient
    $\frac1N\sum_n h(r_n) (s_q - s_p)\cdot \partial_\theta x_n$ matters (arXiv:2502.15681v2, Sec. 3).

    Args:
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.
      log_ratio: ``[N]`` ``log p(x_n) - log q(x_n)`` at the samples (log space).
      score_student: ``[N, D]`` or ``[N]`` student score ``grad_x log q`` at the samples.
      score_teacher: ``[N, D]`` or ``[N]`` teacher score ``grad_x log p`` at the samples.
      samples: ``[N, D]`` or ``[N]`` generator samples ``x_n(theta)`` (carry the gradient).

    Returns:
      scalar surrogate loss.

    Example:
      >>> from kl_lab.divergences import generators as gen
      >>> x = jnp.array([0.5, -1.0])
      >>> g = jax.grad(lambda c: fdistill_surrogate_loss(gen.kl, jnp.log(jnp.array([2.0, 0.5])),
      ...     jnp.array([1.0, 1.0]), jnp.array([0.0, 0.0]), c * x))(1.0)
      >>> round(float(g), 4)  # (2 * 1 * 0.5 + 0.5 * 1 * (-1)) / 2
      0.25
    """
    _check_generator(generator)
    check_same_shape(score_student, score_teacher, "score_student", "score_teacher")
    check_same_shape(score_student, samples, "score_student", "samples")
    log_ratio = as_input(log_ratio, "log_ratio")
    score_student, score_teacher = as_input(score_student, "score_student"), as_input(score_teacher, "score_teacher")
    ok = (
        _not_nan(log_ratio, "log_ratio")
        & check_finite(score_student, "score_student")
        & check_finite(score_teacher, "score_teacher")
        & check_finite(samples, "samples")
    )
    h = generator.weight(log_ratio)
    diff = score_student - score_teacher
    x = jnp.asarray(samples)
    if x.ndim == h.ndim + 1:
        h = h[..., None]
    coef = jax.lax.stop_gradient(h * diff)
    per = coef * x
    return finish(ok, jnp.mean(per.reshape(per.shape[0], -1).sum(-1) if per.ndim > 1 else per))


def practical_fdistill_weight(
    generator: Generator,
    log_ratio: Array,
    *,
    weights: Array | None = None,
    bin_index: Array | None = None,
    num_bins: int = 1,
    ratio_range: tuple[float, float] | None = FASTGEN_RATIO_RANGE,
    normalise_ratio: bool = True,
    logit_clamp: float | None = FASTGEN_LOGIT_CLAMP,
) -> Array:
    r"""The weight the released f-distill code uses, over the last axis (a batch of samples).

    $$\tilde r = \frac{\operatorname{clip}(r, a, b)}{\overline{\operatorname{clip}(r, a, b)}_{\text{bin}}},\qquad
    \tilde h = \frac{h(\tilde r)}{\overline{h(\tilde r)}},$$

    with $\log r$ first clamped to $\pm$ ``logit_clamp``, $[a, b]$ = ``ratio_range``, the ratio's mean
    taken within each noise-level bin (``bin_index`` in ``0..num_bins-1``; one bin when ``None``) and
    $h$'s over the whole batch. Means are ``weights``-weighted (uniform when ``None``: plain Monte
    Carlo; quadrature weights give the population version). Source: NVIDIA FastGen
    ``FdistillModel._get_f_div_weighting_h`` (module docstring), the code release of arXiv:2502.15681;
    the code's ``+1e-6`` in denominators and its EMA over steps (off by default) are left out.
    ``ratio_range=None`` skips the clip, ``normalise_ratio=False`` the division by the bin mean,
    ``logit_clamp=None`` the clamp. The output has mean 1 under ``weights``.

    Args:
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.
      log_ratio: ``[..., N]`` log density ratios ``log r = log p - log q`` at the samples (log space).
      weights: ``[..., N]`` nonnegative weights of the samples (``None``: uniform).
      bin_index: ``[..., N]`` noise-level bin of each sample (``None``: one bin).
      num_bins: number of bins (static int).
      ratio_range: clip ``(a, b)`` of the ratio (``None``: no clip).
      normalise_ratio: divide the clipped ratio by its per-bin mean.
      logit_clamp: clamp of ``log r`` (``None``: no clamp).

    Returns:
      ``[..., N]`` weights ``h~`` (mean one).

    Example:
      >>> from kl_lab.divergences import generators as gen
      >>> h = practical_fdistill_weight(gen.kl, jnp.log(jnp.array([0.01, 1.0, 100.0])))
      >>> [round(float(v), 4) for v in h]  # r clipped to 0.1, 1, 20; forward KL's h = r, mean 1
      [0.0142, 0.1422, 2.8436]
    """
    _check_generator(generator)
    rng = _check_range(ratio_range)
    log_ratio = as_input(log_ratio, "log_ratio")
    check_floating(log_ratio, "log_ratio")
    ok = _not_nan(log_ratio, "log_ratio")
    if weights is not None:
        weights = as_input(weights, "weights")
        check_same_shape(weights, log_ratio, "weights", "log_ratio")
        ok = ok & check_positive(weights, "weights", allow_zero=True)
    if not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"num_bins must be an int >= 1; got {num_bins!r}")
    lr = log_ratio
    if logit_clamp is not None:
        if not float(logit_clamp) > 0:
            raise ValueError(f"logit_clamp must be > 0 or None; got {logit_clamp!r}")
        lr = jnp.clip(lr, -logit_clamp, logit_clamp)
    if rng is not None:
        lr = jnp.clip(lr, jnp.log(rng[0]), jnp.log(rng[1]))
    w = _normalised(weights, lr)
    if normalise_ratio:
        r = jnp.exp(lr)
        if bin_index is None:
            log_mean = jnp.log(jnp.sum(w * r, axis=-1, keepdims=True))
        else:
            idx = jnp.asarray(bin_index)
            if idx.shape != lr.shape[-1:] or not jnp.issubdtype(idx.dtype, jnp.integer):
                raise ValueError(
                    f"bin_index must be an integer array of shape {lr.shape[-1:]} (one bin per sample); "
                    f"got dtype {idx.dtype} and shape {idx.shape}"
                )
            ok = ok & require(
                jnp.all((idx >= 0) & (idx < num_bins)),
                f"bin_index must lie in [0, {num_bins - 1}]; got min {{lo}}, max {{hi}}",
                lo=jnp.min(idx), hi=jnp.max(idx),
            )  # fmt: skip
            onehot = jax.nn.one_hot(idx, num_bins, dtype=lr.dtype)  # [N, K]
            bin_mean = jnp.einsum("...n,nk->...k", w * r, onehot) / jnp.einsum("...n,nk->...k", w, onehot)
            log_mean = jnp.log(jnp.take(bin_mean, idx, axis=-1))
        lr = lr - log_mean
    h = generator.weight(lr)
    return finish(ok, h / jnp.sum(w * h, axis=-1, keepdims=True))


def normalised_weight_variance(
    generator: Generator,
    log_ratio: Array,
    weights: Array | None = None,
    *,
    ratio_range: tuple[float, float] | None = None,
    normalise_ratio: bool = False,
) -> Array:
    r"""$\mathrm{Var}[h] / \mathbb{E}[h]^2$ over the last axis, for the exact or the practical weight.

    With the defaults, $h = h(r)$ exactly (Table 1 of arXiv:2502.15681v2); with ``ratio_range`` and/or
    ``normalise_ratio`` it is :func:`practical_fdistill_weight`'s weight (one bin, no logit clamp).
    Optional non-negative ``weights`` (quadrature or Monte Carlo; uniform by default) define the
    moments. Scale-free, so the generators' normalisation does not matter.

    Args:
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.
      log_ratio: ``[..., N]`` log density ratios ``log r = log p - log q`` at the samples (log space).
      weights: ``[..., N]`` nonnegative weights of the samples (``None``: uniform).
      ratio_range: clip ``(a, b)`` of the ratio (``None``: no clip).
      normalise_ratio: divide the (clipped) ratio by its mean.

    Returns:
      ``[...]`` ``Var[h] / E[h]^2``.

    Example:
      >>> from kl_lab.divergences import generators as gen
      >>> import numpy as np
      >>> z, w = np.polynomial.hermite_e.hermegauss(200)
      >>> lr = 3.0 * z - 4.5  # q = N(0, 1), p = N(3, 1)
      >>> exact = normalised_weight_variance(gen.kl, lr, w)
      >>> clipped = normalised_weight_variance(gen.kl, lr, w, ratio_range=(0.1, 20.0))
      >>> round(float(exact)), round(float(clipped), 1)  # e^9 - 1; 16.65 (Gauss-Hermite blurs the clip's kinks)
      (8102, 16.6)
    """
    _check_generator(generator)
    log_ratio = as_input(log_ratio, "log_ratio")
    ok = _not_nan(log_ratio, "log_ratio")
    if weights is not None:
        weights = as_input(weights, "weights")
        ok = ok & check_positive(weights, "weights", allow_zero=True)
    w = _normalised(weights, log_ratio)
    if ratio_range is None and not normalise_ratio:
        h = generator.weight(log_ratio)
    else:
        h = practical_fdistill_weight(
            generator, log_ratio, weights=w, ratio_range=ratio_range, normalise_ratio=normalise_ratio,
            logit_clamp=None,
        )  # fmt: skip
    m1 = jnp.sum(w * h, axis=-1)
    m2 = jnp.sum(w * h**2, axis=-1)
    return finish(ok, (m2 - m1**2) / m1**2)


def gaussian_clipped_ratio_moment(k: float, mu: Array, lower: float, upper: float) -> Array:
    r"""$\mathbb{E}[\operatorname{clip}(r, a, b)^k]$, $x \sim N(0,1)$, $r = e^{\mu x - \mu^2/2}$.

    Derived (ours): with $\alpha = (\log a + \mu^2/2)/|\mu|$ and $\beta = (\log b + \mu^2/2)/|\mu|$,

    $$\mathbb{E}[\operatorname{clip}(r,a,b)^k] = a^k\,\Phi(\alpha) + b^k\,\Phi(-\beta)
    + e^{k(k-1)\mu^2/2}\,\big[\Phi(\beta - k|\mu|) - \Phi(\alpha - k|\mu|)\big],$$

    the middle term being $\mathbb{E}[r^k; a \le r \le b]$ after completing the square. At $\mu = 0$,
    $r = 1$ and the moment is $\operatorname{clip}(1, a, b)^k$. Without a clip ($a \to 0$, $b \to \infty$)
    it is $e^{k(k-1)\mu^2/2}$.

    Args:
      k: the moment order (real).
      mu: the shift ``mu`` (real array).
      lower: lower clip ``a >= 0``.
      upper: upper clip ``b > a`` (may be ``inf``).

    Returns:
      the moment, the shape of ``mu``.

    Example:
      >>> m1, m2 = (gaussian_clipped_ratio_moment(k, 3.0, 0.1, 20.0) for k in (1, 2))
      >>> round(float(m2 / m1**2 - 1), 2)  # forward KL's clipped weight variance at mu = 3
      16.65
    """
    if not 0.0 < float(lower) < float(upper):
        raise ValueError(f"lower and upper must satisfy 0 < lower < upper; got lower={lower!r}, upper={upper!r}")
    mu = as_input(mu, "mu")
    ok = check_finite(mu, "mu")
    m = jnp.abs(mu)
    safe = jnp.where(m > 0, m, 1.0)
    a = (jnp.log(lower) + safe**2 / 2) / safe
    b = (jnp.log(upper) + safe**2 / 2) / safe
    mid = jnp.exp(k * (k - 1) * safe**2 / 2) * (ndtr(b - k * safe) - ndtr(a - k * safe))
    val = lower**k * ndtr(a) + upper**k * ndtr(-b) + mid
    at0 = jnp.clip(1.0, lower, upper) ** k
    return finish(ok, jnp.where(m > 0, val, at0))


def weight_tail_exponents(generator: Generator, log_r: float = 40.0) -> tuple[Array, Array]:
    r"""The tail exponents of the weight: $\frac{d \log h}{d \log r}$ at $\log r = -$``log_r`` and $+$``log_r``.

    For $h(r) \sim r^{\kappa_0}$ as $r \to 0$ and $h(r) \sim r^{\kappa_\infty}$ as $r \to \infty$ the
    slopes tend to $(\kappa_0, \kappa_\infty)$ (autodiff of $\log h$ in $\log r$; the corrections
    are $O(e^{-\text{log\_r}})$ for Table 1's rational weights). $\kappa_\infty = 1$ (forward KL, Jeffreys)
    is what makes the exact weight's variance grow like $e^{\mu^2}$ in the Gaussian example.

    Args:
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.
      log_r: the ``|log r|`` at which the slopes are taken (positive).

    Returns:
      ``(kappa_0, kappa_inf)`` scalars.

    Example:
      >>> from kl_lab.divergences import generators as gen
      >>> [tuple(round(float(e), 3) for e in weight_tail_exponents(g)) for g in (gen.kl, gen.js)]
      [(1.0, 1.0), (1.0, 0.0)]
    """
    _check_generator(generator)
    if not float(log_r) > 0:
        raise ValueError(f"log_r must be > 0; got {log_r!r}")
    slope = jax.grad(lambda lr: jnp.log(generator.weight(lr)))
    return slope(jnp.asarray(-float(log_r))), slope(jnp.asarray(float(log_r)))
