"""Best-of-n over many n at once: one sort shared by every n, values equal to the law by enumeration."""

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.alignment import best_of_n_kl, best_of_n_log_probs


def _enumerated_law(p, r, n):
    """The best-of-n law by enumerating all V^n draws, ties broken uniformly (independent of the closed form)."""
    out = np.zeros(len(p))
    for draw in itertools.product(range(len(p)), repeat=n):
        w = np.prod(p[list(draw)])
        best = max(r[i] for i in draw)
        winners = [i for i in draw if r[i] == best]
        for i in winners:
            out[i] += w / len(winners)
    return out


def test_vector_n_matches_enumeration_with_ties():
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    r = np.array([0.0, 1.0, 1.0, 2.0, -1.0])  # a tie between outcomes 1 and 2
    ns = np.array([1.0, 2.0, 3.0, 4.0])
    got = np.exp(best_of_n_log_probs(jnp.log(p), r, ns))  # shape (4, 5): one law per n
    assert got.shape == (4, 5)
    for k, n in enumerate(ns.astype(int)):
        # float64 sums of <= 5^4 products: agreement to rounding
        np.testing.assert_allclose(got[k], _enumerated_law(p, r, n), rtol=1e-12, atol=1e-15)


def test_n_and_law_batches_broadcast():
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(6), size=3))  # three laws
    r = rng.standard_normal((3, 6))
    ns = np.array([[2.0], [5.0]])  # (2, 1) against the laws' (3,): out (2, 3)
    got = best_of_n_kl(lp, r, ns)
    assert got.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        # each entry is the scalar call on its own law and n (same formula, another batching path)
        np.testing.assert_allclose(got[i, j], best_of_n_kl(lp[j], r[j], ns[i, 0]), rtol=1e-12)


@pytest.mark.parametrize("fn", [best_of_n_kl, best_of_n_log_probs])
def test_one_sort_for_many_n(fn):
    """The O(V log V) sort is shared: for 16 values of n the program sorts the same operands as for one n
    (vmapping the whole computation over n would sort a (16, V) batch)."""
    lp = jnp.log(jnp.full(50, 1 / 50))
    r = jnp.linspace(0.0, 1.0, 50)

    def sort_shapes(n):  # the operand shapes of every sort instruction of the compiled program
        text = jax.jit(fn).lower(lp, r, n).compile().as_text()
        # a key-value sort returns a tuple "(s32[..], f32[..])", a keys-only sort one array "s64[..]{..}"
        return sorted(re.findall(r"= (\([^)]*\)|\S+) sort\(", text))

    one = sort_shapes(jnp.asarray(3.0))
    assert one and not any("16," in s for s in one)
    assert sort_shapes(jnp.linspace(1.0, 100.0, 16)) == one
