"""Every registered experiment, in its quick preset: runs, plots, and passes its checks."""

import dataclasses

import jax
import pytest

from kl_lab import experiment as exp_lib
from kl_lab.checks import assert_checks

NAMES = exp_lib.list_experiments()


@pytest.mark.parametrize("name", NAMES)
def test_experiment_contract(name):
    m = exp_lib.load(name)
    assert dataclasses.is_dataclass(m.Config) and m.Config.__dataclass_params__.frozen
    assert isinstance(m.Config.quick(), m.Config)
    assert isinstance(m.PAPER, exp_lib.Paper) and m.CLAIM and m.TITLE and m.RUNTIME


@pytest.mark.parametrize("name", NAMES)
def test_experiment_quick_passes_checks(name, tmp_path):
    # experiment scripts are user-level code where NumPy-style broadcasting is idiomatic; the library they call
    # is tested under strict rank promotion in its own tests (conftest.py)
    with jax.numpy_rank_promotion("allow"):
        rec = exp_lib.run_experiment(name, quick=True, seed=0, out=tmp_path)
    assert rec.checks, f"{name} states no checks"
    assert_checks(rec.checks)
    assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.json").exists()
