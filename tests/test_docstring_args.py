"""Every public function and class of kl_lab names each of its arguments in its docstring (issue #15 step 6).

"Public" is every name in the ``__all__`` of every kl_lab module whose last dotted part does not start with
``_`` (a name re-exported by a package is checked once, in the module that defines it, or in the first public
module that exports it when it is defined in a private one). An argument counts as documented when its name
appears in the docstring as a word (``log_p`` in ``Args:``, or in the prose with its meaning); a TeX symbol
(``$\\alpha$``) does not count for ``alpha``. ``self`` and ``cls`` are skipped; ``*args``/``**kwargs`` must be
named like any other argument. A class is documented by its docstring plus its own ``__init__``'s; a
``NamedTuple`` or dataclass field may instead carry a ``#:`` comment (mkdocstrings renders it as the field's
documentation); a callable instance (a divergence generator) is documented by its class and its ``__call__``.
Module-level constants are not callables and are not checked.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest

import kl_lab

#: modules exempt from the argument audit (none: every public module documents its arguments)
NOT_YET_AUDITED: set[str] = set()  # every module is audited; a module added here is skipped (say why beside it)

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(kl_lab.__path__, "kl_lab.") if not m.name.rsplit(".", 1)[-1].startswith("_")
)


def _unwrap(obj):
    """The Python function behind ``jax.jit``, ``functools.wraps``, ``jax.custom_jvp``/``custom_vjp``."""
    for _ in range(8):
        if hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        elif not inspect.isclass(obj) and callable(getattr(obj, "fun", None)):
            obj = obj.fun
        else:
            break
    return obj


def _public_callables():
    """``{qualified name: object}``, each public callable once (see the module docstring)."""
    owner, seen = {}, {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            home = getattr(obj, "__module__", None)
            defined_here = home == name
            key = id(obj)
            if key not in seen or (defined_here and not owner[key][2]):
                seen[key] = obj
                owner[key] = (name, attr, defined_here)
    return {f"{mod}:{attr}": seen[key] for key, (mod, attr, _) in owner.items()}


PUBLIC = _public_callables()


def _field_comments(cls) -> set[str]:
    """Fields of a class body documented by a ``#:`` comment on their line or on the line above."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return set()
    out = set()
    for i, line in enumerate(lines):
        m = re.match(r"\s+(\w+)\s*:", line)
        if m and ("#:" in line or (i and lines[i - 1].strip().startswith("#:"))):
            out.add(m.group(1))
    return out


def _doc_and_params(obj):
    """The docstring text that documents ``obj`` and the names of the parameters it must mention."""
    if inspect.isclass(obj):
        doc = obj.__doc__ or ""
        fields = getattr(obj, "_fields", None)
        if fields is not None and doc == f"{obj.__name__}({', '.join(fields)})":
            doc = ""  # the NamedTuple's generated docstring documents nothing
        if "__init__" in vars(obj):
            doc += "\n" + (inspect.getdoc(obj.__init__) or "")
        params = list(inspect.signature(obj).parameters)
        documented = _field_comments(obj) if (fields is not None or dataclasses.is_dataclass(obj)) else set()
        return doc, [p for p in params if p not in documented]
    fn = _unwrap(obj)
    if not (inspect.isroutine(fn) or inspect.isclass(fn)):  # a callable instance: its class documents the call
        kind = type(fn)
        doc = (kind.__doc__ or "") + "\n" + (inspect.getdoc(kind.__call__) or "")
        return doc, list(inspect.signature(fn).parameters)
    doc = inspect.getdoc(fn) or inspect.getdoc(obj) or ""
    return doc, list(inspect.signature(fn).parameters)


def _missing(obj) -> list[str]:
    try:
        doc, params = _doc_and_params(obj)
    except (TypeError, ValueError):  # no introspectable signature (an exception class of a builtin base)
        return []
    return [p for p in params if p not in ("self", "cls") and not re.search(rf"(?<![\w\\]){re.escape(p)}(?!\w)", doc)]


def test_the_walk_finds_the_public_api():
    # guards the walk itself: a change that made it find nothing would make the check below pass vacuously
    assert len(PUBLIC) > 500, len(PUBLIC)
    assert "kl_lab.divergences.discrete:kl" in PUBLIC
    assert _missing(lambda undocumented: undocumented) == ["undocumented"]


def test_not_yet_audited_lists_only_real_module_names():
    stale = {m for m in NOT_YET_AUDITED if m not in MODULES}
    assert not stale, f"NOT_YET_AUDITED names modules that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("module", [m for m in MODULES if m not in NOT_YET_AUDITED])
def test_every_public_callable_names_its_arguments(module):
    gaps = {q: miss for q, obj in PUBLIC.items() if q.split(":")[0] == module and (miss := _missing(obj))}
    assert not gaps, "docstrings that do not name these arguments (add an Args: section):\n" + "\n".join(
        f"  {q}: {', '.join(miss)}" for q, miss in sorted(gaps.items())
    )
