"""k-statistics (issue 15: one copy, in kl_lab.stats): against scipy.stats.kstat and, for unbiasedness, against the
exact cumulants of a small discrete law by enumerating every sample of size m (no Monte Carlo error)."""

import itertools

import numpy as np
import pytest
import scipy.stats as st

from kl_lab import stats


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kstat_matches_scipy(order):
    x = np.random.default_rng(0).gamma(2.0, size=(37, 3)) + 5.0
    # float64, a few hundred terms of size ~10^4 (fourth powers): agreement to ~1e-12 relative
    np.testing.assert_allclose(stats.kstat(x, order, axis=0), [st.kstat(x[:, j], order) for j in range(3)], rtol=1e-10)
    np.testing.assert_allclose(stats.kstat(x.T, order, axis=1), stats.kstat(x, order, axis=0), rtol=1e-15)


def test_kstat_is_unbiased_by_exact_enumeration():
    support, probs = np.array([0.0, 1.0, 3.0]), np.array([0.5, 0.3, 0.2])
    mean = probs @ support
    mu = [probs @ (support - mean) ** j for j in range(5)]
    kappa = {1: mean, 2: mu[2], 3: mu[3], 4: mu[4] - 3 * mu[2] ** 2}  # cumulants from central moments
    m = 5
    samples = np.array(list(itertools.product(support, repeat=m)))
    weights = np.prod(np.array(list(itertools.product(probs, repeat=m))), axis=1)
    for order, truth in kappa.items():
        expect = weights @ stats.kstat(samples, order, axis=1)
        np.testing.assert_allclose(expect, truth, rtol=1e-12, atol=1e-14)  # a weighted sum of 243 terms


def test_kstat_bad_input():
    with pytest.raises(ValueError, match="order must be 1, 2, 3 or 4"):
        stats.kstat([1.0, 2.0, 3.0], 5)
    with pytest.raises(ValueError, match="more than 4 samples"):
        stats.kstat([1.0, 2.0, 3.0, 4.0], 4)
