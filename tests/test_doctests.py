"""Every ``>>>`` example in kl_lab's docstrings runs and prints what it says (DESIGN.md: runnable examples)."""

import doctest
import importlib
import pkgutil

import jax
import pytest

import kl_lab

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(kl_lab.__path__, "kl_lab.") if not m.name.rsplit(".", 1)[-1].startswith("_")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, extraglobs={"jax": jax, "jnp": jax.numpy}) if t.examples]
    # every public module documents itself with runnable examples (issue 15): none is a failure, not a skip
    assert tests, f"{name} has no docstring examples: give its public names (or its module docstring) a >>> example"
    with jax.numpy_rank_promotion("allow"):
        for t in tests:
            runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
