"""The registration table of the discrete divergences: one entry makes the public function, its
``*_from_logits`` variant and its law tests.

An entry is a documented signature decorated with :meth:`Registry.register`, which is given the
kernel (a last-axis function of log-probabilities in :mod:`kl_lab.divergences.kernels`, or your own)
and the laws the divergence obeys::

    @DIVERGENCES.register(kernels.js_last, laws=Laws(symmetric=True, upper=math.log(2.0)))
    def js(log_p, log_q, axis=-1):
        \"\"\"Jensen–Shannon divergence ...\"\"\"

The decorated body is never run: the registry returns the public function (same name, signature and
docstring) that checks and prepares the inputs under the library's one bad-input policy
(:func:`kl_lab.divergences.kernels.prepare_pair`), calls the jitted kernel on the last axis and finishes (NaN for an
invalid traced input, low precision cast back). It also builds ``<name>_from_logits`` (a max-shifted
log-softmax of both arguments, then the same kernel; or a fused ``logits_kernel``) and records the
entry in the table, which ``tests/divergences/test_div_registry.py`` and ``test_div_laws.py`` iterate:
non-negativity, exactly 0 at ``p = q``, symmetry and upper bounds where declared, data processing,
joint convexity where declared, agreement of the ``*_from_logits`` variant and its shift invariance.

Identical inputs give exactly 0 for every entry with ``Laws.identity`` (issue 18): the value is
``out - stop_gradient(out)`` on rows where ``log_p == log_q`` entry by entry (rounding in a sum of
terms of both signs would otherwise leave ``1e-17``), with the kernel's gradient unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from kl_lab.divergences import kernels as K
from kl_lab.numerics import zero_where

Array = Any

__all__ = ["Laws", "Param", "Entry", "Registry", "DIVERGENCES"]


@dataclasses.dataclass(frozen=True)
class Laws:
    """What the parametrised law tests assert for an entry (and the docs say about it).

    Attributes:
      identity: ``D(p, p) = 0`` exactly and ``D >= 0`` (False for cross entropies).
      data_processing: ``D(pK, qK) <= D(p, q)`` for every Markov kernel ``K``.
      jointly_convex: ``D`` is jointly convex in ``(p, q)`` (for the entry's ``law_params``).
      symmetric: ``D(p, q) = D(q, p)``.
      upper: an upper bound of ``D`` (``inf`` when unbounded).
      law_params: parameter tuples (after ``log_p, log_q``) at which the laws are tested.

    Examples:
      >>> from kl_lab.divergences.registry import DIVERGENCES, Laws
      >>> Laws(symmetric=True).symmetric, DIVERGENCES["js"].laws.symmetric
      (True, True)
    """

    identity: bool = True
    data_processing: bool = True
    jointly_convex: bool = True
    symmetric: bool = False
    upper: float = math.inf
    law_params: tuple[tuple[Any, ...], ...] = ((),)


@dataclasses.dataclass(frozen=True)
class Param:
    """A parameter after ``log_p, log_q``: its ``check(value) -> (value, ok)`` under the one policy, or
    ``static=True`` for a hashable Python object (a generator) passed to the kernel as a static argument.

    Examples:
      >>> from kl_lab.divergences.registry import DIVERGENCES
      >>> [(p.name, p.static) for p in DIVERGENCES["f_divergence"].params]
      [('generator', True)]
    """

    name: str
    check: Callable[[Any], tuple[Any, Any]] | None = None
    static: bool = False


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered divergence: its kernel, laws and the two public functions made from it.

    Examples:
      >>> from kl_lab.divergences.registry import DIVERGENCES
      >>> entry = DIVERGENCES["renyi"]
      >>> entry.name, entry.fn.__name__, entry.from_logits.__name__, [p.name for p in entry.params]
      ('renyi', 'renyi', 'renyi_from_logits', ['alpha'])
    """

    name: str
    kernel: Callable[..., Array]
    params: tuple[Param, ...]
    laws: Laws
    fn: Callable[..., Array]
    from_logits: Callable[..., Array]


def _exact_zero(kernel: Callable[..., Array]) -> Callable[..., Array]:
    """``kernel`` with an exact 0 on rows where ``lp == lq`` entry by entry; gradient unchanged."""

    def wrapped(lp, lq, *params):
        return zero_where(jnp.all(lp == lq, axis=-1), kernel(lp, lq, *params))

    return wrapped


class Registry(Mapping[str, Entry]):
    """An ordered table of :class:`Entry`; ``DIVERGENCES`` is the library's (a test may make its own).

    Examples:
      >>> from kl_lab.divergences.registry import DIVERGENCES, Registry
      >>> len(Registry()), "kl" in DIVERGENCES, next(iter(DIVERGENCES))
      (0, True, 'kl')
    """

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def register(
        self,
        kernel: Callable[..., Array],
        *,
        params: tuple[Param, ...] = (),
        laws: Laws = Laws(),  # noqa: B008 (frozen)
        logits_kernel: Callable[..., Array] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Array]]:
        """Decorator: the documented signature ``def name(log_p, log_q, *params, axis=-1)`` becomes the
        public function; ``self[name].from_logits`` is its ``*_from_logits`` variant. A signature that ends
        with a keyword-only ``base=None`` also gets the units argument: the value in nats times
        ``1 / log(base)`` (:func:`kl_lab.divergences.kernels.base_scale`; ``base=2`` gives bits).

        Args:
          kernel: ``kernel(lp, lq, *params)`` on the last axis, log-probabilities in the compute dtype.
          params: the parameters between ``log_q`` and ``axis``, in order.
          laws: the laws the tests assert (:class:`Laws`).
          logits_kernel: optional fused ``kernel(logits_p, logits_q, *params)`` for the logits variant
            (otherwise: max-shifted log-softmax of both, then ``kernel``).

        Examples:
          >>> import jax.numpy as jnp
          >>> table = Registry()
          >>> @table.register(lambda lp, lq: jnp.sum(jnp.exp(lp) * (lp - lq), axis=-1))
          ... def my_kl(log_p, log_q, axis=-1, *, base=None):
          ...     'KL(p || q).'
          >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
          >>> round(float(my_kl(lp, lq)), 6), table["my_kl"].from_logits.__name__
          (0.143841, 'my_kl_from_logits')
        """

        def decorate(spec: Callable[..., Any]) -> Callable[..., Array]:
            entry = _make_entry(spec, kernel, tuple(params), laws, logits_kernel)
            if entry.name in self._entries:
                raise ValueError(f"a divergence named {entry.name!r} is already registered")
            self._entries[entry.name] = entry
            return entry.fn

        return decorate


_LOGITS_ARGS = (
    "  logits_p: ``(..., K)`` logits of ``p`` along ``axis`` (unnormalised log-probabilities: any finite reals;\n"
    "    shifting a row by a constant changes nothing).",
    "  logits_q: ``(..., K)`` logits of ``q``, as ``logits_p``; the batch dimensions of the two broadcast.",
)


def _logits_args(doc: str | None, names: tuple[str, str]) -> str:
    """The ``Args:`` and ``Returns:`` sections of a generated ``*_from_logits`` docstring: the spec's, with its
    two distributions (``names``) replaced by ``logits_p``/``logits_q``; empty if the spec has no ``Args:``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Args:" not in lines:
        return ""
    out, keep = ["", "", "Args:", *_LOGITS_ARGS], False
    for line in lines[lines.index("Args:") + 1 :]:
        if line and not line.startswith(" "):
            if line != "Returns:":
                break
            out += ["", line]
            keep = True
            continue
        if line.startswith("  ") and not line.startswith("   "):  # a new entry
            keep = line.split(":", 1)[0].strip() not in names
        if line.strip() and keep:
            out.append(line)
    return "\n".join(out)


def _logits_example(module: str, name: str, params: tuple[Param, ...], laws: Laws) -> str:
    """The ``Examples:`` section of a generated ``*_from_logits`` docstring: shift invariance and agreement
    with the public function on the log-softmaxes, at one of the entry's ``law_params`` (or 0.5)."""
    choices = laws.law_params or ((0.5,) * len(params),)
    values = choices[len(choices) // 2]
    if not all(isinstance(v, float) for v in values):
        values = choices[0]
    head = []
    args = []
    for v in values:
        if isinstance(v, float):
            args.append(repr(v))
        else:  # a static generator: the instance of that name in kl_lab.divergences.generators
            head.append("    >>> from kl_lab.divergences import generators")
            args.append(f"generators.{v.name}")
    extra = "".join(f", {a}" for a in args)
    lines = [
        "",
        "",
        "Examples:",
        "    >>> import jax",
        "    >>> import jax.numpy as jnp",
        f"    >>> from {module} import {name}, {name}_from_logits",
        *head,
        "    >>> a, b = jnp.array([0.0, 1.0, 2.0]), jnp.array([1.0, 0.0, 0.5])",
        f"    >>> v = {name}_from_logits(a, b{extra})",
        f"    >>> bool(jnp.isclose({name}_from_logits(a + 10.0, b - 3.0{extra}), v, rtol=1e-5))",
        "    True",
        f"    >>> bool(jnp.isclose({name}(jax.nn.log_softmax(a), jax.nn.log_softmax(b){extra}), v, rtol=1e-5))",
        "    True",
    ]
    return "\n".join(lines)


def _make_entry(spec, kernel, params: tuple[Param, ...], laws: Laws, logits_kernel) -> Entry:
    sig = inspect.signature(spec)
    names = list(sig.parameters)
    has_base = bool(names) and names[-1] == "base" and sig.parameters["base"].kind is inspect.Parameter.KEYWORD_ONLY
    if has_base:
        names = names[:-1]
    want = 2 + len(params) + 1
    if len(names) != want or names[-1] != "axis" or tuple(names[2:-1]) != tuple(p.name for p in params):
        raise TypeError(
            f"{spec.__name__} must have the signature (log_p, log_q, {', '.join(p.name for p in params)}"
            f"{', ' if params else ''}axis=-1[, *, base=None]); got {sig}"
        )
    static = tuple(2 + i for i, p in enumerate(params) if p.static)
    k = _exact_zero(kernel) if laws.identity else kernel
    jitted = jax.jit(k, static_argnums=static)
    if logits_kernel is None:
        logits_jitted = jax.jit(lambda a, b, *ps: k(K.log_softmax(a), K.log_softmax(b), *ps), static_argnums=static)
    else:
        logits_jitted = jax.jit(logits_kernel, static_argnums=static)

    def bind(args, kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        scale = K.base_scale(bound.arguments.pop("base")) if has_base else 1.0
        vals = list(bound.arguments.values())
        return vals[0], vals[1], vals[2:-1], vals[-1], scale

    def in_units(out, scale):
        return out if scale == 1.0 else out * scale

    def check_params(values):
        ok, out = True, []
        for p, v in zip(params, values):
            if p.check is not None:
                v, ok_p = p.check(v)
                ok = ok & ok_p
            out.append(v)
        return out, ok

    @functools.wraps(spec)
    def fn(*args: Any, **kwargs: Any) -> Array:
        log_p, log_q, values, axis, scale = bind(args, kwargs)
        values, ok = check_params(values)
        lp, lq, fin = K.prepare_pair(log_p, log_q, axis, names=(names[0], names[1]))
        return fin.also(ok)(in_units(jitted(lp, lq, *values), scale))

    def from_logits(logits_p: Array, logits_q: Array, *args: Any, **kwargs: Any) -> Array:
        _, _, values, axis, scale = bind((logits_p, logits_q, *args), kwargs)
        values, ok = check_params(values)
        a, b, fin = K.prepare_logits(logits_p, logits_q, axis)
        return fin.also(ok)(in_units(logits_jitted(a, b, *values), scale))

    name = spec.__name__
    from_logits.__name__ = from_logits.__qualname__ = f"{name}_from_logits"
    from_logits.__module__ = spec.__module__
    from_logits.__signature__ = sig.replace(
        parameters=[
            sig.parameters[names[0]].replace(name="logits_p"),
            sig.parameters[names[1]].replace(name="logits_q"),
            *list(sig.parameters.values())[2:],
        ]
    )
    from_logits.__doc__ = (
        f":func:`{name}` between ``softmax(logits_p)`` and ``softmax(logits_q)`` along ``axis`` (generated by the "
        "registration table, :mod:`kl_lab.divergences.registry`): both arguments are normalised by a log-softmax "
        "with the row maximum subtracted first, so the value is invariant under shifting a row by a constant."
    )
    if logits_kernel is not None and logits_kernel.__doc__:
        from_logits.__doc__ = f"``{name}`` between the two softmaxes, fused: {inspect.cleandoc(logits_kernel.__doc__)}"
    from_logits.__doc__ += _logits_args(spec.__doc__, (names[0], names[1]))
    if ">>>" not in from_logits.__doc__:
        from_logits.__doc__ += _logits_example(spec.__module__, name, params, laws)
    return Entry(name, kernel, params, laws, fn, from_logits)


#: the library's table of discrete divergences, filled by :mod:`kl_lab.divergences.discrete`
DIVERGENCES = Registry()
