"""Every experiment names a directed KL the same way: "<reverse|forward> KL(<first>‖<second>)", and the name
matches the divergence its generator computes (kl_lab/preference/conventions.py)."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab import experiment
from kl_lab.divergences import f_divergence, kl
from kl_lab.preference import conventions as cv

ROOT = pathlib.Path(__file__).resolve().parents[1]
LABEL = re.compile(r"^(reverse KL|forward KL)\((\w+)‖(\w+)\)$")
WITH_GENERATORS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if "def _generators" in p.read_text())


def test_some_experiments_declare_generators():
    assert {"fdpg_gradients", "fdpo_mapping"} <= set(WITH_GENERATORS)


@pytest.mark.parametrize("name", WITH_GENERATORS)
def test_directed_kl_names_match_their_generators(name):
    gens = experiment.load(name)._generators()
    lp = jax.nn.log_softmax(jnp.array([0.3, -1.0, 2.0, 0.0]))  # the model pi
    lq = jax.nn.log_softmax(jnp.array([1.0, 0.5, -0.5, 0.2]))  # the target
    kls = [k for k in gens if "KL" in k]
    assert kls, f"{name}: no directed KL among {list(gens)}"
    for label in kls:
        m = LABEL.match(label)
        assert m, f"{name}: {label!r} is not of the form 'reverse KL(pi‖p)' / 'forward KL(p‖pi)'"
        direction, first, second = m.groups()
        model_first = cv.KL_DIRECTIONS[direction] == "model"
        assert (first == "pi") == model_first and (second == "pi") != model_first, f"{name}: {label!r}"
        # the experiments evaluate D_f(pi || target): the generator must give the named KL
        want = kl(lp, lq) if model_first else kl(lq, lp)
        np.testing.assert_allclose(f_divergence(lp, lq, gens[label]), want, rtol=1e-12, err_msg=f"{name}: {label}")


@pytest.mark.parametrize("name", WITH_GENERATORS)
def test_no_bare_direction_in_figure_labels(name):
    code = (ROOT / "experiments" / f"{name}.py").read_text().split('"""', 2)[-1]  # after the module docstring
    code = re.sub(r"#.*", "", code)  # comments
    code = re.sub(r"cv\.kl_(?:label|generator)\(\"(?:reverse|forward) KL\"", "", code)  # the convention's own names
    bare = re.findall(r"(?:reverse|forward) KL(?![(\w])", code)
    assert not bare, f"{name}: a directed KL named without its arguments: {bare}"
