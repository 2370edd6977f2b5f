"""Scaled-linear and zero-terminal-SNR schedules."""

import numpy as np

from kl_lab.preference import schedules as sch


def test_scaled_linear_endpoints_and_monotone():
    a = np.asarray(sch.scaled_linear_alpha_bar())
    assert a.shape == (1000,)
    np.testing.assert_allclose(a[0], 1 - 0.00085, rtol=1e-12)
    assert np.all(np.diff(a) < 0) and 1e-3 < a[-1] < 1e-2  # SD's abar_T ~ 4.7e-3: not zero SNR


def test_zero_terminal_snr_keeps_first_and_zeroes_last():
    a = sch.scaled_linear_alpha_bar()
    z = np.asarray(sch.zero_terminal_snr(a))
    np.testing.assert_allclose(z[0], np.asarray(a)[0], rtol=1e-12)
    assert z[-1] == 0.0 and np.all(np.diff(z) < 0)
    assert np.asarray(sch.snr(z))[-1] == 0.0
