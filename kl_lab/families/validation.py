"""Argument checks under the library's one bad-value policy, shared by the model packages.

Every ``require_*`` function here returns ``ok``, a boolean scalar: ``True`` eagerly (an invalid concrete
argument raises ``ValueError`` naming it, what was expected and what arrived, through
:func:`kl_lab.numerics.require`), the traced truth value under ``jit`` (the caller returns
:func:`guard` ``(ok, out)``: NaN in every floating leaf, ``converged = False`` in a solver result), and
inside :func:`kl_lab.numerics.checked` a failing check raises the eager message from compiled code.

Shape problems are static and always raise (:func:`require_nonempty`). An empty *distribution* or
*sample* axis is a ``ValueError`` naming the argument; batch axes of size 0 give an empty result.

This is a leaf module (it imports only :mod:`kl_lab.numerics`), so the alignment, privacy, kde,
pn_criterion, preference and projection modules use it without import cycles.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.numerics import (
    as_float_array,
    check_finite,
    check_floating,
    check_in_range,
    check_log_probs,
    check_positive,
    compute_dtype,
    is_concrete,
    poison,
    require,
)

__all__ = [
    "float_input",
    "guard",
    "validated",
    "positive",
    "in_range",
    "require_positive",
    "require_in_range",
    "require_finite",
    "require_not_nan",
    "require_log_probs",
    "require_nonempty",
]


def float_input(x: Any, name: str) -> jax.Array:
    """``x`` (array, list, tuple or scalar) as a floating array in its compute dtype.

    Lists and tuples are accepted (:func:`kl_lab.numerics.as_float_array`); bfloat16/float16 are
    promoted to float32 (:func:`kl_lab.numerics.compute_dtype`) so the arithmetic is done in float32.
    Callers that return arrays of the input's shape cast back with ``out.astype(input dtype)``.

    Args:
      x: array, list, tuple or scalar (numeric).
      name: the public argument name a ``TypeError`` (non-numeric input) uses.

    Returns:
      a floating JAX array of ``x``'s shape: float32 for bfloat16/float16/float32, float64 for float64, the
      default float dtype for integers.

    Example:
      >>> float_input([1, 2], "x").dtype == jnp.zeros(1).dtype
      True
    """
    x = as_float_array(x, name)
    return x.astype(compute_dtype(x.dtype))


def guard(ok: Any, out: Any, int_fill: int | None = None) -> Any:
    """:func:`kl_lab.numerics.poison` ``(ok, out)`` under a trace; ``out`` unchanged when ``ok`` is concrete.

    A concrete ``ok`` is always ``True`` (an eager failure raised already), so eager results stay
    bit-identical and pay no extra dispatch. ``int_fill`` (e.g. ``-1``, not a valid index or bit) replaces
    integer leaves too, for functions whose output cannot be NaN.

    Args:
      ok: the validity (a concrete ``True`` eagerly, else a traced boolean scalar).
      out: the result: an array or a pytree (a solver result's ``converged`` becomes ``converged & ok``).
      int_fill: value for integer leaves where ``ok`` is false (``None``: integer leaves are kept).

    Returns:
      ``out``; under a trace, where ``ok`` is false: NaN in its floating leaves, ``converged=False``, ``int_fill``
      in its integer leaves.

    Example:
      >>> float(jax.jit(lambda x: guard(x > 0, jnp.sqrt(x)))(-1.0))
      nan
    """
    if is_concrete(ok):
        return out
    out = poison(ok, out)
    if int_fill is None:
        return out

    def leaf(x):
        x = jnp.asarray(x)
        return jnp.where(ok, x, jnp.asarray(int_fill, x.dtype)) if jnp.issubdtype(x.dtype, jnp.integer) else x

    return jax.tree_util.tree_map(leaf, out)


def validated(*, int_fill: int | None = None, **checks: Callable[[Any, str], Any]) -> Callable:
    """Decorator: run ``checks[arg](value, arg)`` on the named arguments, then :func:`guard` the result.

    Each check returns ``ok`` (raising eagerly); the argument name given to it is the public one, so messages
    name it. Example: ``@validated(epsilon=positive(allow_inf=True))``.

    Args:
      int_fill: passed to :func:`guard` (the fill of integer outputs, e.g. ``-1`` for indices).
      checks: ``{argument name: check}``, each ``check(value, name) -> ok`` (:func:`positive`, :func:`in_range`
        or any ``require_*`` with its name argument).

    Returns:
      the decorator; the wrapped function keeps ``fn``'s signature (``functools.wraps``).

    Example:
      >>> @validated(scale=positive())
      ... def log_scale(scale):
      ...     return jnp.log(scale)
      >>> float(jax.jit(log_scale)(-1.0))   # eagerly: ValueError naming scale
      nan
    """

    def deco(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            ok = jnp.asarray(True)
            for name, check in checks.items():
                ok = ok & check(bound.arguments[name], name)
            return guard(ok, fn(*args, **kwargs), int_fill)

        return wrapper

    return deco


def positive(*, allow_zero: bool = False, allow_inf: bool = False) -> Callable[[Any, str], Any]:
    """A :func:`validated` check: :func:`require_positive` with these options.

    Args:
      allow_zero: accept ``0`` (``x >= 0``).
      allow_inf: accept ``+inf``.

    Returns:
      the check ``(x, name) -> ok``.

    Example:
      >>> bool(positive(allow_zero=True)(0.0, "rate"))
      True
    """
    return lambda x, name: require_positive(x, name, allow_zero=allow_zero, allow_inf=allow_inf)


def in_range(low: float, high: float, **kw: bool) -> Callable[[Any, str], Any]:
    """A :func:`validated` check: :func:`require_in_range` on ``[low, high]`` (``low_inclusive``/``high_inclusive``).

    Args:
      low: the lower end.
      high: the upper end.
      kw: ``low_inclusive``/``high_inclusive`` of :func:`require_in_range` (both ``True`` by default).

    Returns:
      the check ``(x, name) -> ok``.

    Example:
      >>> bool(in_range(0.0, 1.0)(0.5, "p"))
      True
    """
    return lambda x, name: require_in_range(x, name, low, high, **kw)


def require_positive(x: Any, name: str, *, allow_zero: bool = False, allow_inf: bool = False) -> jax.Array:
    """``x > 0`` (``>= 0`` with ``allow_zero``) and finite (unless ``allow_inf``); NaN always fails.

    Args:
      x: the value (array or scalar).
      name: the public argument name the error message uses.
      allow_zero: accept ``0``.
      allow_inf: accept ``+inf``.

    Returns:
      ``jnp.bool_`` scalar: ``True`` eagerly (an invalid value raises ``ValueError`` naming ``name``), the traced
      condition under a trace (feed it to :func:`guard`).

    Example:
      >>> try:
      ...     require_positive(-1.0, "rate")
      ... except ValueError as e:
      ...     print(str(e)[:16])
      rate must be > 0
    """
    return jnp.asarray(check_positive(x, name, allow_zero=allow_zero, allow_inf=allow_inf))


def require_in_range(
    x: Any, name: str, low: float, high: float, *, low_inclusive: bool = True, high_inclusive: bool = True
) -> jax.Array:
    """``x`` in the stated interval (NaN fails).

    Args:
      x: the value (array or scalar).
      name: the public argument name the error message uses.
      low: the lower end.
      high: the upper end.
      low_inclusive: ``low`` itself is allowed.
      high_inclusive: ``high`` itself is allowed.

    Returns:
      ``jnp.bool_`` scalar: ``True`` eagerly (an invalid value raises ``ValueError`` naming ``name``), the traced
      condition under a trace (feed it to :func:`guard`).

    Example:
      >>> bool(require_in_range(1.0, "p", 0.0, 1.0))
      True
    """
    return jnp.asarray(check_in_range(x, name, low, high, low_inclusive=low_inclusive, high_inclusive=high_inclusive))


def require_finite(x: Any, name: str) -> jax.Array:
    """Every entry of ``x`` finite (no NaN, no ±inf).

    Args:
      x: the value (array or scalar).
      name: the public argument name the error message uses.

    Returns:
      ``jnp.bool_`` scalar: ``True`` eagerly (an invalid value raises ``ValueError`` naming ``name``), the traced
      condition under a trace (feed it to :func:`guard`).

    Example:
      >>> bool(jax.jit(lambda x: require_finite(x, "x"))(jnp.inf))
      False
    """
    return jnp.asarray(check_finite(x, name))


def require_not_nan(x: Any, name: str) -> jax.Array:
    """No NaN in ``x`` (±inf allowed).

    Args:
      x: the value (array or scalar).
      name: the public argument name the error message uses.

    Returns:
      ``jnp.bool_`` scalar: ``True`` eagerly (an invalid value raises ``ValueError`` naming ``name``), the traced
      condition under a trace (feed it to :func:`guard`).

    Example:
      >>> bool(require_not_nan(jnp.array([1.0, jnp.inf]), "x"))
      True
    """
    xp = np if is_concrete(x) else jnp  # NumPy eagerly: no compiled program per shape
    return require(~xp.isnan(xp.asarray(x)), f"{name} must not contain NaN; got {{value}}", value=x)


def require_log_probs(log_p: Any, name: str, axis: int = -1) -> jax.Array:
    """Normalised log-probabilities along ``axis``: no NaN, no ``+inf``, ``|logsumexp| <= atol``.

    ``atol`` comes from the dtype of ``log_p`` as given: 1e-8 float64, 1e-4 float32 (those of
    :func:`kl_lab.numerics.check_log_probs`) and ``8 eps`` for bfloat16/float16 (a few ulps of the rounded
    entries); the sum is taken in float32 for low-precision input. Eagerly ``check_log_probs`` raises its
    message; traced, the same conditions are returned as a boolean (and raised by ``checked``).

    Args:
      log_p: log-probabilities (log space; ``-inf`` = no mass), floating array.
      name: the public argument name the error message uses.
      axis: the outcome axis.

    Returns:
      ``jnp.bool_`` scalar: ``True`` eagerly (an invalid value raises ``ValueError`` naming ``name``), the traced
      condition under a trace (feed it to :func:`guard`).

    Example:
      >>> bool(require_log_probs(jnp.log(jnp.array([0.25, 0.75])), "log_p"))
      True
    """
    log_p = as_float_array(log_p, name)
    check_floating(log_p, name)
    dt = log_p.dtype
    atol = 8 * float(jnp.finfo(dt).eps) if dt.itemsize < 4 else (1e-4 if dt == jnp.float32 else 1e-8)
    log_p = log_p.astype(compute_dtype(dt))
    if is_concrete(log_p):
        check_log_probs(log_p, name, axis, atol=atol)
        return jnp.asarray(True)
    lse = jax.nn.logsumexp(log_p, axis=axis)
    ok = ~jnp.any(jnp.isnan(log_p)) & ~jnp.any(log_p == jnp.inf) & jnp.all(jnp.abs(lse) <= atol)
    return require(ok, f"{name} must be normalised log-probabilities (no NaN, logsumexp over axis {axis} equal to 0)")


def require_nonempty(x: Any, name: str, axis: int = -1, what: str = "distribution") -> None:
    """Static: ``ValueError`` when the ``what`` axis of ``x`` has size 0 (an empty law or sample).

    Args:
      x: the array (shape is all that is read; a scalar passes).
      name: the public argument name the error message uses.
      axis: the axis that must be non-empty.
      what: what the axis holds, for the message (``"distribution"``, ``"sample"``).

    Example:
      >>> try:
      ...     require_nonempty(jnp.zeros((3, 0)), "log_p")
      ... except ValueError as e:
      ...     print(str(e)[:30])
      log_p must hold at least one e
    """
    shape = np.shape(x)
    if len(shape) == 0:
        return
    if shape[axis] == 0:
        raise ValueError(f"{name} must hold at least one entry along its {what} axis {axis}; got shape {shape}")
