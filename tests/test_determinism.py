"""Determinism on an experiment that uses its PRNG key (``kl_estimators``: Monte Carlo draws and random policies).

Same seed and config: identical results, bit for bit (each run in its own output folder, so no sweep chunk is
read back from a cache). Another seed: different Monte Carlo results -- the key reaches the simulation.
"""

import jax
import numpy as np

from kl_lab import experiment as exp_lib

# a small configuration: the point is the key's path through run(), not the checks
SMALL = {"mus": (0.5, 1.0), "n_samples": 2**10, "n_policies": 4, "n_mc_grad": 2**8, "chunk_size": 2}


def _results(tmp_path, seed, sub):
    with jax.numpy_rank_promotion("allow"):
        rec = exp_lib.run_experiment(
            "kl_estimators", quick=True, seed=seed, out=tmp_path / sub, save=False, overrides=SMALL, progress=False
        )
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(rec.results)}


def test_same_seed_bit_identical_other_seed_different(tmp_path):
    a = _results(tmp_path, 7, "a")
    b = _results(tmp_path, 7, "b")
    c = _results(tmp_path, 8, "c")
    assert a.keys() == b.keys() == c.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), f"{k}: same seed, different bits"
    # the Monte Carlo means and the random policies' gradients depend on the key
    for k in ("['mc']['k1']['mean']", "['mc']['k3']['mean']", "['grads']['grad_fwd']", "['grads']['grad_k3_mc']"):
        assert not np.array_equal(a[k], c[k]), f"{k}: another seed gave identical results"
    # what does not use the key (the mu grid, the quadrature) is unchanged
    assert a["['mu']"].tobytes() == c["['mu']"].tobytes()
    assert a["['k3_var_quad']"].tobytes() == c["['k3_var_quad']"].tobytes()
