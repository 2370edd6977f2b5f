"""TimeNoise toy: the MMSE denoiser's weights and their limits."""

import numpy as np

from kl_lab.preference import time_noise as tn


def test_weights_are_the_gaussian_posterior_mean():
    a, v = 0.3, 0.05
    cov = np.array([[1.0, np.sqrt(a), 1.0], [np.sqrt(a), 1.0, np.sqrt(a)], [1.0, np.sqrt(a), 1.0 + v]])  # x0, xt, c
    coef = np.linalg.solve(cov[1:, 1:], cov[1:, 0])
    w = tn.mmse_weights(a, v)
    np.testing.assert_allclose([w.on_xt, w.on_condition], coef, rtol=1e-12)


def test_leakage_limit_and_time_noise():
    s0 = 0.1
    plain = float(tn.mmse_weights(1e-12, s0**2).on_condition)
    np.testing.assert_allclose(plain, 1 / (1 + s0**2), rtol=1e-9)
    sig = float(tn.linear_time_noise(1000, 1000, 1.0))
    noisy = float(tn.mmse_weights(1e-12, s0**2 + sig**2).on_condition)
    np.testing.assert_allclose(noisy, 1 / (1 + s0**2 + 1.0), rtol=1e-9)
