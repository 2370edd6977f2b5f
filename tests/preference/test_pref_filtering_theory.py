"""Closed forms of kl_lab.preference.filtering_theory against brute force over p."""

import numpy as np
import pytest
from scipy import stats

from kl_lab.preference import difficulty as df
from kl_lab.preference import filtering_theory as ft


@pytest.mark.parametrize("lam", [1e-3, 0.1, 0.5, 2.0, 8.0, 30.0])
def test_kl_argmax_closed_form_matches_bisection(lam):
    exact = float(ft.filtering_kl_argmax_closed_form(lam))
    # the bisection stops at an absolute bracket of 1e-12 (at lam = 30 the maximiser itself is 2.7e-12)
    assert abs(exact - float(df.filtering_kl_argmax(lam).p)) <= 1e-12 + 1e-10 * exact


def test_kl_argmax_values_and_series():
    assert abs(float(ft.filtering_kl_argmax_closed_form(8.0)) - 0.00234993) < 5e-9
    lam = np.array([0.01, 0.05, 0.1])
    series = 0.5 - lam / 6 + lam**3 / 180
    assert np.all(np.abs(np.asarray(ft.filtering_kl_argmax_closed_form(lam)) - series) <= lam**5 / 1000)


@pytest.mark.parametrize("lam", [0.3, 1.0, 4.0])
def test_one_step_improvement_against_tilt_and_argmax(lam):
    p = np.linspace(0.0, 1.0, 20001)
    gain = np.asarray(ft.one_step_improvement(p, lam))
    np.testing.assert_allclose(gain, np.asarray(df.tilted_pass_rate(p, lam).pass_rate) - p, atol=1e-15)
    p_star, g_star = (float(v) for v in ft.one_step_improvement_argmax(lam))
    assert abs(p[np.argmax(gain)] - p_star) <= 1e-4  # grid spacing 5e-5
    assert abs(gain.max() - g_star) <= 1e-8 and g_star >= gain.max()


def test_band_filter_keep_probability_is_binomial():
    p = np.array([0.0, 0.1, 0.5, 0.77, 1.0])
    for g in (1, 4, 16):
        k = np.arange(g + 1)
        keep = (k / g >= 0.25) & (k / g <= 0.75)
        want = np.array([stats.binom.pmf(k[keep], g, q).sum() for q in p])
        np.testing.assert_allclose(np.asarray(ft.band_filter_keep_probability(p, g, 0.25, 0.75)), want, atol=1e-14)
