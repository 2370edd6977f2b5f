"""kl_lab.asymptotics: Richardson limits of exact expansions and WLS fits of noisy ones."""

import numpy as np
import pytest

from kl_lab.asymptotics import extrapolate, fit_inverse_powers, richardson_limit
from kl_lab.pn_criterion import exact_risk_exponential


def test_richardson_recovers_the_second_order_coefficient_of_the_exponential_risk():
    # R(n) = 1/(2n) + 11/(12 n^2) + O(n^-3) (exact_risk_exponential docstring): n^2 (R - 1/(2n)) -> 11/12
    n = np.array([1000.0, 2000.0, 4000.0])
    f = n**2 * (np.asarray(exact_risk_exponential(n)) - 0.5 / n)
    lim = richardson_limit(n, f)
    assert abs(lim.value - 11 / 12) < 1e-6
    assert lim.error < 1e-4
    assert abs(lim.value - 11 / 12) <= lim.error


def test_richardson_is_exact_for_a_polynomial_in_inverse_n_and_rejects_bad_input():
    n = np.array([3.0, 7.0, 11.0, 50.0])
    assert richardson_limit(n, 4 - 1 / n + 2 / n**3).value == pytest.approx(4.0, abs=1e-10)
    with pytest.raises(ValueError, match="distinct"):
        richardson_limit([1.0, 1.0], [2.0, 3.0])


def test_fit_inverse_powers_standard_errors_are_calibrated():
    rng = np.random.default_rng(0)
    n = np.array([10.0, 30.0, 100.0, 300.0])
    se = np.array([0.1, 0.12, 0.09, 0.11])
    fits = [fit_inverse_powers(n, 1.0 + 3.0 / n + rng.normal(0, se), se) for _ in range(2000)]
    a0 = np.array([f.coef[0] for f in fits])
    assert abs(a0.mean() - 1.0) < 4 * a0.std() / np.sqrt(a0.size)
    assert a0.std() == pytest.approx(fits[0].stderr[0], rel=0.1)


def test_fit_inverse_powers_correlation_bound_covers_common_paths():
    # one shared noise with the worst signs at every n: the bound is attained, the independent-points SE is not
    rng = np.random.default_rng(1)
    n = np.array([10.0, 30.0, 100.0, 300.0])
    se = np.full(4, 0.1)
    ref = fit_inverse_powers(n, 2.0 + 1.0 / n, se)
    worst = np.sign(np.linalg.pinv((1.0 / n[:, None]) ** np.arange(2)[None, :])[0])
    a0 = np.array([fit_inverse_powers(n, 2.0 + 1.0 / n + 0.1 * rng.normal() * worst, se).coef[0] for _ in range(4000)])
    assert a0.std() == pytest.approx(ref.stderr_any_correlation[0], rel=0.05)
    assert a0.std() > 1.5 * ref.stderr[0]


def test_extrapolate_with_log_corrections_and_its_error_estimate():
    x = np.array([25.0, 50.0, 100.0, 200.0])
    corr = [lambda t: np.log(t) / t, lambda t: 1 / t]
    f = 0.8 + 3 * np.log(x) / x + 2 / x + 5 / x**2  # a neglected 1/x^2 term
    lim = extrapolate(x, f, corr)
    assert abs(lim.value - 0.8) <= lim.error  # the error estimate covers the neglected term
    assert lim.error < 0.01
    with pytest.raises(ValueError, match="distinct sizes"):
        extrapolate(x[:3], f[:3], corr)
