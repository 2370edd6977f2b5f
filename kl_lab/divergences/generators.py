"""f-divergence generators as objects computed from ``log u`` (``u = p/q``).

A :class:`Generator` holds a convex ``f`` with ``f(1) = 0`` through two stable
expressions of ``L = log u``: ``f_low(L) = f(e^L)`` used for ``L <= 0`` and
``f_high(L) = f(e^L) / e^L`` used for ``L > 0``. Nothing is formed that
overflows before the quantity itself does (TFP's ``tfp.vi`` generators form ``u``
and are "numerically unstable for |logu| >> 0" by their own docstrings). From
these two, everything else follows:

* ``f(L)``, ``f_over_u(L)``, the derivatives ``df(L) = f'(u)``, ``d2f(L) = f''(u)``
  and the f-distill weight ``h(L) = f''(u) u^2`` (Xu, Nie & Vahdat 2025,
  arXiv:2502.15681, Table 1: the gradient of ``D_f`` is weighted by ``h(r)``);
* the **dual** (Csiszár conjugate) ``u f(1/u)``, which swaps the arguments:
  ``D_{f*}(p||q) = D_f(q||p)``; stable for free, since its ``f_low`` is our
  ``f_high`` reflected (``dual()``);
* the **symmetrised** generator ``(f + u f(1/u)) / 2`` (TFP's
  ``symmetrized_csiszar_function``);
* the **convex (Fenchel) conjugate** ``f*(t) = sup_u (t u - f(u))`` used by
  variational bounds (Nguyen, Wainwright & Jordan 2010; Nowozin et al. 2016,
  f-GAN, Table 2): closed form where one is listed, otherwise by bisection on
  ``f'(u) = t`` in ``log u`` (f' is non-decreasing), with the boundary cases
  ``t <= f'(0+)`` (value ``-f(0+)``) and ``t > lim f(u)/u`` (value ``+inf``).

Boundary constants used by :func:`kl_lab.divergences.f_divergence`: ``f0 = f(0+)``
and ``slope_inf = lim_{u -> inf} f(u)/u``.

Names: each generator carries the name of its divergence in :mod:`kl_lab.divergences.discrete`
(``kl``, ``js``, ``pearson_chi2``, ``neyman_chi2``, ...); ``jensen_shannon`` and ``pearson`` are
aliases of ``js`` and ``pearson_chi2`` kept for the notebooks.

Normalisations (so that ``f_divergence(p, q, g)`` equals the dedicated function):
``js`` is half of TFP's Jensen-Shannon (it has the 1/2 weights; its ``h`` is
``r / (2 (r + 1))``, half the f-distill table's entry, which uses TFP's f);
``squared_hellinger`` is ``(sqrt u - 1)^2 / 2`` (TFP omits the 1/2);
``jeffreys`` is ``(u - 1) log u`` (TFP's is half of it); ``modified_gan`` and
``t_power`` are self-normalised (``f(1) = f'(1) = 0``), which changes no divergence
between normalised inputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from kl_lab.solvers import first_crossing

Array = Any
_LOG2 = math.log(2.0)

__all__ = [
    "Generator",
    "kl",
    "reverse_kl",
    "js",
    "jensen_shannon",
    "total_variation",
    "squared_hellinger",
    "pearson_chi2",
    "pearson",
    "neyman_chi2",
    "amari_alpha",
    "jeffreys",
    "triangular",
    "arithmetic_geometric",
    "t_power",
    "log1p_abs",
    "modified_gan",
    "softened_reverse_kl",
    "ALL",
]


def _sp(x):
    return jax.nn.softplus(x)


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
    """A Csiszár f-generator, evaluated from ``L = log u``. See the module docstring.

    Calling the generator, ``g(logu)``, is ``g.f(logu)``: ``logu`` is ``log u`` (log space, any shape, float),
    the result ``f(u)`` has its shape.

    Args:
      name: the name of the divergence it generates (the key in :data:`ALL`).
      f_low: ``L -> f(e^L)``, used for ``L <= 0`` (must not overflow there).
      f_high: ``L -> f(e^L) / e^L``, used for ``L > 0``.
      df: ``L -> f'(e^L)``.
      h: ``L -> f''(u) u^2`` at ``u = e^L`` (the f-distill weight).
      f0: ``f(0+)`` (may be ``inf``).
      slope_inf: ``lim f(u)/u`` as ``u -> inf`` (may be ``inf``).
      df0: ``f'(0+)`` (default ``-inf``).
      conjugate_closed: ``t -> f*(t)`` in closed form, or ``None`` (bisection).

    Examples:
      >>> import math
      >>> from kl_lab.divergences.generators import kl
      >>> round(float(kl.f(math.log(2.0))), 6), kl.f0   # f(u) = u log u at u = 2; f(0) = 0
      (1.386294, 0.0)
    """

    name: str
    f_low: Callable[[Array], Array]
    f_high: Callable[[Array], Array]
    df: Callable[[Array], Array]
    h: Callable[[Array], Array]
    f0: float
    slope_inf: float
    df0: float = -math.inf
    conjugate_closed: Callable[[Array], Array] | None = None

    def __call__(self, logu: Array) -> Array:
        return self.f(logu)

    def f(self, logu: Array) -> Array:
        """``f(u)`` at ``u = exp(logu)``.

        $f(u)$, $u = e^L$ (two branches so that nothing overflows before $f$ does).

        Examples:
          >>> import math
          >>> round(float(kl.f(math.log(2.0))), 6)  # u log u at u = 2
          1.386294
        """
        L = jnp.asarray(logu)
        neg = L <= 0
        lo, hi = jnp.where(neg, L, 0.0), jnp.where(neg, 0.0, L)  # where, not min/max: full gradient at L = 0
        return jnp.where(neg, self.f_low(lo), jnp.exp(hi) * self.f_high(hi))

    def f_over_u(self, logu: Array) -> Array:
        """``f(u) / u`` at ``u = exp(logu)`` (the perspective term for ``p > q``).

        $f(u)/u$, $u = e^L$.

        Examples:
          >>> import math
          >>> round(float(kl.f_over_u(math.log(2.0))), 6)
          0.693147
        """
        L = jnp.asarray(logu)
        neg = L <= 0
        lo, hi = jnp.where(neg, L, 0.0), jnp.where(neg, 0.0, L)
        return jnp.where(neg, jnp.exp(-lo) * self.f_low(lo), self.f_high(hi))

    def d2f(self, logu: Array) -> Array:
        """``f''(u) = h(u) / u^2``.

        $f''(u) = h(u)/u^2$.

        Examples:
          >>> import math
          >>> round(float(kl.d2f(math.log(2.0))), 6)  # KL: f'' = 1/u
          0.5
        """
        L = jnp.asarray(logu)
        return self.h(L) * jnp.exp(-2.0 * L)

    def weight(self, logu: Array) -> Array:
        r"""The f-distill weight ``h(r) = f''(r) r^2`` (alias of ``h``).

        $h(r) = f''(r)\, r^2$.

        Examples:
          >>> import math
          >>> round(float(kl.weight(math.log(2.0))), 6)  # KL: h(r) = r
          2.0
        """
        return self.h(jnp.asarray(logu))

    def conjugate(self, t: Array) -> Array:
        r"""Convex conjugate ``f*(t) = sup_{u > 0} (t u - f(u))`` (closed form or bisection).

        $f^*(t) = \sup_{u > 0}\, t u - f(u)$.

        Examples:
          >>> round(float(kl.conjugate(0.5)), 6)  # f(u) = u log u: f*(t) = exp(t - 1)
          0.606531
        """
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        if self.conjugate_closed is not None:
            return self.conjugate_closed(t)
        return self.conjugate_numeric(t)

    def df_inverse(self, t: Array, *, bound: float | None = None, iterations: int = 200) -> Array:
        r"""$L^\star = \inf\{L \in [-B, B] : f'(e^L) \ge t\}$, the log of $(f')^{-1}(t)$, elementwise, by bisection
        (:func:`kl_lab.solvers.first_crossing`, ``iterations`` halvings, down to adjacent floats).

        $B$ = ``bound`` (default $\log(\text{max float})/2$). An exact tie counts as $\ge$, so on a flat stretch of
        $f'$ the left end is taken (total variation at $t = \pm 1/2$). Clipped to the bracket: $-B$ where
        $f'(e^{-B}) \ge t$ (e.g. $t \le f'(0^+)$: $u \to 0$), $B$ where $f'(e^{B}) < t$; NaN for NaN ``t``.
        Not differentiated (callers use the envelope theorem or their own implicit gradients).

        Examples:
          >>> round(float(kl.df_inverse(1.5)), 9)  # f'(u) = log u + 1: L = t - 1
          0.5
        """
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        lim = 0.5 * math.log(float(jnp.finfo(t.dtype).max)) if bound is None else float(bound)

        def one(ti):
            lo, hi = jnp.asarray(-lim, t.dtype), jnp.asarray(lim, t.dtype)
            return first_crossing(lambda L, a: self.df(L) - a, ti, lower=lo, upper=hi, steps=iterations).value

        L = jax.vmap(one)(t.reshape(-1)).reshape(t.shape)
        return jax.lax.stop_gradient(jnp.where(jnp.isnan(t), jnp.nan, L))

    def conjugate_numeric(self, t: Array, iterations: int = 200) -> Array:
        r"""``f*(t)`` from :meth:`df_inverse` ($f'(e^L) = t$ over $|L| \le \log(\text{max float})/2$,
        ``iterations`` halvings): $f^*(t) = t e^{L^\star} - f(e^{L^\star})$.

        $-f(0^+)$ for $t \le f'(0^+)$, $+\infty$ for $t$ above the slope at infinity; NaN for NaN ``t``.
        Gradient: the envelope theorem (Danskin), $\partial f^*/\partial t = e^{L^\star}$, so $L^\star$ is not
        differentiated.

        Examples:
          >>> bool(abs(float(kl.conjugate_numeric(0.5)) - float(kl.conjugate(0.5))) < 1e-9)
          True
        """
        t = jnp.asarray(t)
        L = self.df_inverse(t, iterations=iterations)
        L_safe = jnp.where(jnp.isnan(L), 0.0, L)  # no NaN into the unselected branch's gradient
        val = jnp.where(jnp.isnan(L), jnp.nan, t * jnp.exp(L_safe) - self.f(L_safe))
        val = jnp.where(t <= self.df0, -self.f0, val)
        return jnp.where(t > self.slope_inf, jnp.inf, val)

    def dual(self) -> Generator:
        r"""The generator ``u f(1/u)``: ``D_dual(p || q) = D_f(q || p)``.

        $f^\diamond(u) = u f(1/u)$, so $D_{f^\diamond}(p \| q) = D_f(q \| p)$.

        Examples:
          >>> import math
          >>> bool(abs(float(kl.dual().f(math.log(2.0))) - 2 * float(kl.f(-math.log(2.0)))) < 1e-12)
          True
        """
        s = self
        return Generator(
            name=f"dual({s.name})",
            f_low=lambda L: s.f_high(-L),
            f_high=lambda L: s.f_low(-L),
            df=lambda L: s.f(-L) - s.df(-L) * jnp.exp(-L),
            h=lambda L: s.h(-L) * jnp.exp(L),
            f0=s.slope_inf,
            slope_inf=s.f0,
        )

    def symmetrised(self) -> Generator:
        r"""``(f(u) + u f(1/u)) / 2``: the divergence ``(D_f(p||q) + D_f(q||p)) / 2``.

        $\tfrac12 (f(u) + u f(1/u))$.

        Examples:
          >>> round(float(kl.symmetrised().f(0.0)), 6)  # f(1) = 0
          0.0
        """
        s, d = self, self.dual()
        return Generator(
            name=f"symmetrised({s.name})",
            f_low=lambda L: 0.5 * (s.f_low(L) + d.f_low(L)),
            f_high=lambda L: 0.5 * (s.f_high(L) + d.f_high(L)),
            df=lambda L: 0.5 * (s.df(L) + d.df(L)),
            h=lambda L: 0.5 * (s.h(L) + d.h(L)),
            f0=0.5 * (s.f0 + d.f0),
            slope_inf=0.5 * (s.slope_inf + d.slope_inf),
        )


def _where_dom(ok, val):
    return jnp.where(ok, val, jnp.inf)


kl = Generator(
    "kl",
    f_low=lambda L: L * jnp.exp(L),
    f_high=lambda L: L,
    df=lambda L: L + 1.0,
    h=jnp.exp,
    f0=0.0,
    slope_inf=math.inf,
    conjugate_closed=lambda t: jnp.exp(t - 1.0),
)
"""Forward KL, ``f(u) = u log u``; ``f*(t) = exp(t - 1)``. ``D_f = KL(p || q)``."""

reverse_kl = Generator(
    "reverse_kl",
    f_low=lambda L: -L,
    f_high=lambda L: -L * jnp.exp(-L),
    df=lambda L: -jnp.exp(-L),
    h=lambda L: jnp.ones_like(L),
    f0=math.inf,
    slope_inf=0.0,
    conjugate_closed=lambda t: _where_dom(t < 0, -1.0 - jnp.log(jnp.where(t < 0, -t, 1.0))),
)
"""Reverse KL, ``f(u) = -log u``; ``f*(t) = -1 - log(-t)`` for ``t < 0``. ``D_f = KL(q || p)``."""


def _js_core(L):  # u log u - (u + 1) log((u + 1)/2), for L <= 0
    return L * jnp.exp(L) - (1.0 + jnp.exp(L)) * (_sp(L) - _LOG2)


js = Generator(
    "js",
    f_low=lambda L: 0.5 * _js_core(L),
    f_high=lambda L: 0.5 * (-L * jnp.exp(-L) - (1.0 + jnp.exp(-L)) * (_sp(-L) - _LOG2)),
    df=lambda L: 0.5 * (_LOG2 - _sp(-L)),
    h=lambda L: 0.5 * jax.nn.sigmoid(L),
    f0=0.5 * _LOG2,
    slope_inf=0.5 * _LOG2,
    conjugate_closed=lambda t: _where_dom(
        t < 0.5 * _LOG2, -0.5 * jnp.log(2.0 - jnp.exp(2.0 * jnp.where(t < 0.5 * _LOG2, t, 0.0)))
    ),
)
"""Jensen–Shannon (Lin 1991) with weights 1/2: ``f(u) = (u log u - (u+1) log((u+1)/2)) / 2``;
``f*(t) = -log(2 - e^{2t}) / 2`` for ``t < log(2)/2`` (half of f-GAN's scaled by 2)."""

total_variation = Generator(
    "total_variation",
    f_low=lambda L: -0.5 * jnp.expm1(L),
    f_high=lambda L: -0.5 * jnp.expm1(-L),
    df=lambda L: 0.5 * jnp.sign(L),
    h=jnp.zeros_like,
    f0=0.5,
    slope_inf=0.5,
    df0=-0.5,
    conjugate_closed=lambda t: jnp.where(t > 0.5, jnp.inf, jnp.maximum(t, -0.5)),
)
"""Total variation, ``f(u) = |u - 1| / 2``; ``f*(t) = t`` on ``|t| <= 1/2`` (``-1/2`` below, +inf above:
for ``t < -1/2`` the supremum is ``-f(0) = -1/2``)."""

squared_hellinger = Generator(
    "squared_hellinger",
    f_low=lambda L: 0.5 * jnp.square(jnp.expm1(0.5 * L)),
    f_high=lambda L: 0.5 * jnp.square(jnp.expm1(-0.5 * L)),
    df=lambda L: -0.5 * jnp.expm1(-0.5 * L),
    h=lambda L: 0.25 * jnp.exp(0.5 * L),
    f0=0.5,
    slope_inf=0.5,
    conjugate_closed=lambda t: _where_dom(t < 0.5, t / (1.0 - 2.0 * jnp.where(t < 0.5, t, 0.0))),
)
"""Squared Hellinger, ``f(u) = (sqrt u - 1)^2 / 2``; ``f*(t) = t / (1 - 2t)`` for ``t < 1/2``."""

pearson_chi2 = Generator(
    "pearson_chi2",
    f_low=lambda L: jnp.square(jnp.expm1(L)),
    f_high=lambda L: -jnp.expm1(L) * jnp.expm1(-L),
    df=lambda L: 2.0 * jnp.expm1(L),
    h=lambda L: 2.0 * jnp.exp(2.0 * L),
    f0=1.0,
    slope_inf=math.inf,
    df0=-2.0,
    conjugate_closed=lambda t: jnp.where(t >= -2.0, 0.25 * t * t + t, -1.0),
)
"""Pearson chi^2, ``f(u) = (u - 1)^2``; ``f*(t) = t^2/4 + t`` for ``t >= -2``, ``-1`` below."""

neyman_chi2 = Generator(
    "neyman_chi2",
    f_low=lambda L: -jnp.expm1(L) * jnp.expm1(-L),
    f_high=lambda L: jnp.square(jnp.expm1(-L)),
    df=lambda L: -jnp.expm1(-2.0 * L),
    h=lambda L: 2.0 * jnp.exp(-L),
    f0=math.inf,
    slope_inf=1.0,
    conjugate_closed=lambda t: _where_dom(t <= 1.0, 2.0 - 2.0 * jnp.sqrt(1.0 - jnp.minimum(t, 1.0))),
)
"""Neyman chi^2, ``f(u) = (u - 1)^2 / u``; ``f*(t) = 2 - 2 sqrt(1 - t)`` for ``t <= 1``."""

#: alias of :data:`js` (the notebooks' spelling); each generator is named after its divergence in
#: :mod:`kl_lab.divergences.discrete` (``js``, ``pearson_chi2``, ``neyman_chi2``)
jensen_shannon = js
#: alias of :data:`pearson_chi2` (the notebooks' spelling)
pearson = pearson_chi2


def amari_alpha(alpha: float) -> Generator:
    r"""Amari alpha generator ``(u^a - 1 - a (u - 1)) / (a (a - 1))`` (TFP ``amari_alpha``, self-normalised).

    ``a = 1``: ``u log u - u + 1`` (KL); ``a = 0``: ``-log u + u - 1`` (reverse KL). ``h(u) = u^a``.
    Convex conjugate (derived; tested against the bisection): ``((1 + (a-1) t)^{a/(a-1)} - 1) / a``
    where ``1 + (a - 1) t > 0``; computed here by bisection.

    $f_\alpha(u) = \frac{u^\alpha - 1 - \alpha (u - 1)}{\alpha (\alpha - 1)}$.

    Examples:
      >>> g = amari_alpha(2.0)
      >>> round(float(g.f(0.6931471805599453)), 6)  # (4 - 1 - 2) / 2
      0.5
    """
    a = float(alpha)
    if not math.isfinite(a):
        raise ValueError(f"alpha must be a finite real number; got {alpha!r}")
    if a == 1.0:
        f_low = lambda L: L * jnp.exp(L) - jnp.expm1(L)  # noqa: E731
        f_high = lambda L: L + jnp.expm1(-L)  # noqa: E731
        df = lambda L: L  # noqa: E731
    elif a == 0.0:
        f_low = lambda L: -L + jnp.expm1(L)  # noqa: E731
        f_high = lambda L: -L * jnp.exp(-L) - jnp.expm1(-L)  # noqa: E731
        df = lambda L: -jnp.expm1(-L)  # noqa: E731
    else:
        c = 1.0 / (a * (a - 1.0))
        f_low = lambda L: c * (jnp.expm1(a * L) - a * jnp.expm1(L))  # noqa: E731
        f_high = lambda L: c * (jnp.expm1((a - 1.0) * L) + (a - 1.0) * jnp.expm1(-L))  # noqa: E731
        df = lambda L: jnp.expm1((a - 1.0) * L) / (a - 1.0)  # noqa: E731
    f0 = 1.0 / a if a > 0 else math.inf
    slope = 1.0 / (1.0 - a) if a < 1 else math.inf
    df0 = -1.0 / (a - 1.0) if a > 1 else -math.inf
    return Generator(f"amari_alpha({a:g})", f_low, f_high, df, lambda L: jnp.exp(a * L), f0, slope, df0)


jeffreys = Generator(
    "jeffreys",
    f_low=lambda L: jnp.expm1(L) * L,
    f_high=lambda L: -jnp.expm1(-L) * L,
    df=lambda L: L - jnp.expm1(-L),
    h=lambda L: jnp.exp(L) + 1.0,
    f0=math.inf,
    slope_inf=math.inf,
)
"""Jeffreys, ``f(u) = (u - 1) log u``: ``KL(p||q) + KL(q||p)``; ``h(u) = u + 1``."""

triangular = Generator(
    "triangular",
    f_low=lambda L: jnp.square(jnp.expm1(L)) / (1.0 + jnp.exp(L)),
    f_high=lambda L: jnp.square(jnp.expm1(-L)) / (1.0 + jnp.exp(-L)),
    df=lambda L: 1.0 - 4.0 * jnp.square(jax.nn.sigmoid(-L)),
    h=lambda L: 8.0 * jnp.square(jax.nn.sigmoid(L)) * jax.nn.sigmoid(-L),
    f0=1.0,
    slope_inf=1.0,
    df0=-3.0,
)
"""Triangular discrimination, ``f(u) = (u - 1)^2 / (u + 1)``; ``h(u) = 8 u^2 / (u + 1)^3``."""


def _ag_core(L):  # log((1 + u) / (2 sqrt u)) = |L|/2 + softplus(-|L|) - log 2 >= 0
    return 0.5 * jnp.abs(L) + _sp(-jnp.abs(L)) - _LOG2


arithmetic_geometric = Generator(
    "arithmetic_geometric",
    f_low=lambda L: (1.0 + jnp.exp(L)) * _ag_core(L),
    f_high=lambda L: (1.0 + jnp.exp(-L)) * _ag_core(L),
    df=lambda L: _ag_core(L) + 0.5 - 0.5 * jnp.exp(-L),
    h=lambda L: jnp.cosh(L) * jax.nn.sigmoid(L),
    f0=math.inf,
    slope_inf=math.inf,
)
"""Arithmetic–geometric mean divergence (Taneja), ``f(u) = (1 + u) log((1 + u) / (2 sqrt u))``;
``h(u) = (u^2 + 1) / (2 (u + 1))``. Self-dual."""


def t_power(t: float) -> Generator:
    r"""t-power generator ``s (u^t - 1 - t (u - 1))`` with ``s = sign(t (t - 1))`` (TFP ``t_power``, self-normalised).

    Equals ``|t (t - 1)|`` times :func:`amari_alpha` ``(t)``; ``t`` in ``{0, 1}`` gives ``f = 0`` and raises.

    $f_t(u) = \mathrm{sign}(t(t-1))\, (u^t - 1 - t(u - 1))$.

    Examples:
      >>> round(float(t_power(2.0).f(0.6931471805599453)), 6)  # 4 - 1 - 2
      1.0
    """
    t = float(t)
    if not math.isfinite(t) or t in (0.0, 1.0):
        raise ValueError(f"t must be finite and not 0 or 1 (f would vanish); got {t!r}")
    g, k = amari_alpha(t), abs(t * (t - 1.0))
    return Generator(
        f"t_power({t:g})",
        lambda L: k * g.f_low(L),
        lambda L: k * g.f_high(L),
        lambda L: k * g.df(L),
        lambda L: k * g.h(L),
        k * g.f0,
        k * g.slope_inf,
        k * g.df0,
    )


log1p_abs = Generator(
    "log1p_abs",
    f_low=lambda L: jnp.expm1(-L),
    f_high=lambda L: -jnp.expm1(-L),
    df=lambda L: jnp.where(L > 0, 1.0, -jnp.exp(-2.0 * jnp.minimum(L, 0.0))),
    h=lambda L: jnp.where(L > 0, 0.0, 2.0 * jnp.exp(-jnp.minimum(L, 0.0))),
    f0=math.inf,
    slope_inf=1.0,
)
"""TFP's log1p-abs, ``f(u) = u^{sign(u - 1)} - 1 = expm1(|log u|)``; ``h = 2/u`` below 1, 0 above."""

modified_gan = Generator(
    "modified_gan",
    f_low=lambda L: _sp(-L) + 0.5 * jnp.expm1(L) - _LOG2,
    f_high=lambda L: jnp.exp(-L) * (_sp(-L) - _LOG2) - 0.5 * jnp.expm1(-L),
    df=lambda L: jax.nn.sigmoid(-L) - jnp.exp(-L) + 0.5,
    h=lambda L: 1.0 - jnp.square(jax.nn.sigmoid(L)),
    f0=math.inf,
    slope_inf=0.5,
)
"""Modified GAN, ``f(u) = log(1 + u) - log u + (u - 1)/2 - log 2`` (TFP's ``modified_gan`` with
``self_normalized=True`` but without the ``- log 2``, so TFP's has ``f(1) = log 2 != 0``);
``D_f = sum_i q_i log((p_i + q_i) / (2 p_i))`` for normalised inputs, ``h(u) = (1 + 2u) / (1 + u)^2``."""

softened_reverse_kl = Generator(
    "softened_reverse_kl",
    f_low=lambda L: (1.0 + jnp.exp(L)) * (_sp(-L) - _LOG2),
    f_high=lambda L: (1.0 + jnp.exp(-L)) * (_sp(-L) - _LOG2),
    df=lambda L: _sp(-L) - _LOG2 - jnp.exp(-L),
    h=lambda L: jax.nn.sigmoid(-L),
    f0=math.inf,
    slope_inf=-_LOG2,
)
"""Softened reverse KL (Xu et al. 2025, f-distill Table 1), ``f(r) = (r + 1) log(1/2 + 1/(2r))``;
``h(r) = 1 / (r + 1)``."""

ALL: dict[str, Generator] = {
    g.name: g
    for g in (
        kl,
        reverse_kl,
        js,
        total_variation,
        squared_hellinger,
        pearson_chi2,
        neyman_chi2,
        amari_alpha(0.5),
        amari_alpha(2.0),
        amari_alpha(-1.0),
        jeffreys,
        triangular,
        arithmetic_geometric,
        t_power(0.5),
        t_power(3.0),
        log1p_abs,
        modified_gan,
        softened_reverse_kl,
    )
}
"""Every named generator (parametrised families at a few parameters), for tables and tests."""
