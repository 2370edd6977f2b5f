"""Exact laws over m tokens: tilted-FFT sum law, tails, and best-of-N (N = e^{m delta}) against phi."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.stats as ss
from scipy.special import gammaln

from kl_lab.alignment import best_of_n_sequence, lattice_sum_law, tail_log_prob

BERN = jnp.log(jnp.array([0.7, 0.3]))
LAM = 1.279027126049262  # lambda_delta for delta = 0.2 (test_align_kl_rl checks it)
SIZE = 100_001  # one FFT length for every m <= 1e5: one compilation


def binomial_log_pmf(m, q):
    k = np.arange(m + 1)
    return gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1) + k * np.log(q) + (m - k) * np.log1p(-q)


def reference_bon(m, delta=0.2, p=0.3):
    """Independent route: exact Binomial law (gammaln), upper tails by logaddexp, N log F in log space (numpy)."""
    lp = binomial_log_pmf(m, p)
    log_tail = np.append(np.logaddexp.accumulate(lp[::-1])[::-1][1:], -np.inf)  # log P(S > k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.exp(log_tail)
        lnl = np.where(log_tail < -30, log_tail, np.log(-np.log1p(-np.minimum(s, 1 - 1e-16))))
        n_log_f = -np.exp(m * delta + lnl)
    return np.sum(-np.expm1(n_log_f)) / m


def test_sum_law_against_binomial():
    q = 0.3 * np.exp(LAM) / (0.7 + 0.3 * np.exp(LAM))
    for m in (10, 1000, 100_000):
        law = lattice_sum_law(BERN, m, LAM)
        rel = np.asarray(law.reliable)
        exact = binomial_log_pmf(m, q)
        err = np.abs(np.asarray(law.log_pmf)[rel] - exact[rel])
        # FLOOR = 1e-7: kept entries carry relative error <~ 3e-8; gammaln's own error is ~1e-10 at m = 1e5
        assert err.max() < 1e-7
        assert rel[int(round(m * q))]  # the window contains the mean
    law10 = lattice_sum_law(BERN, 10)  # untilted, everything reliable at m = 10
    np.testing.assert_allclose(law10.log_pmf, ss.binom.logpmf(np.arange(11), 10, 0.3), rtol=1e-12)


def test_sum_law_three_letters_against_direct_convolution():
    p = np.array([0.5, 0.2, 0.3])
    m = 40
    pmf = np.array([1.0])
    for _ in range(m):
        pmf = np.convolve(pmf, p)  # exact up to rounding for these sizes (all terms positive)
    law = lattice_sum_law(jnp.log(jnp.asarray(p)), m, 0.4)
    rel = np.asarray(law.reliable)
    log_p_law = np.asarray(law.log_pmf) - 0.4 * np.arange(2 * m + 1) + m * float(law.log_partition)
    np.testing.assert_allclose(log_p_law[rel], np.log(pmf[rel]), atol=1e-9)  # FFT + tilt round-trip in float64


def test_tail_against_scipy_and_mpmath():
    q = 0.3 * np.exp(LAM) / (0.7 + 0.3 * np.exp(LAM))
    for m, x in ((1000, 0.7), (10_000, 0.65), (100, 0.95)):
        got = float(tail_log_prob(BERN, m, x, LAM, size=10_001))
        k0 = int(np.ceil(m * x - 1e-9))
        assert got == pytest.approx(ss.binom.logsf(k0 - 1, m, q), rel=1e-9)  # scipy's own accuracy ~1e-12
    mpmath.mp.dps = 50
    m, k0 = 100, 95
    exact = mpmath.log(
        mpmath.fsum(
            mpmath.binomial(m, k) * mpmath.mpf(q) ** k * (1 - mpmath.mpf(q)) ** (m - k) for k in range(k0, m + 1)
        )
    )
    assert float(tail_log_prob(BERN, m, 0.95, LAM, size=10_001)) == pytest.approx(float(exact), rel=1e-10)
    with pytest.raises(ValueError, match="x must lie in"):
        tail_log_prob(BERN, 100, 0.3, LAM)


# core-papers-math.md section 2, check 5 (five printed decimals)
REFERENCE_REWARD = {
    10: 0.50473,
    50: 0.57523,
    200: 0.59603,
    1000: 0.60363,
    5000: 0.60563,
    20000: 0.60610,
    100000: 0.60624,
}


def test_best_of_n_reference_values_and_limit():
    ms = np.array(sorted(REFERENCE_REWARD), dtype=float)
    out = jax.jit(jax.vmap(lambda m: best_of_n_sequence(BERN, m, 0.2, size=SIZE)))(ms)
    for m, got, trunc in zip(ms, out.reward_per_token, out.truncation_bound):
        m = int(m)
        assert abs(float(got) - REFERENCE_REWARD[m]) <= 5e-6  # 5 printed decimals
        # independent (numpy, exact Binomial law): agreement to 1e-9 (FFT window relative error 3e-8 x tail mass)
        assert float(got) == pytest.approx(reference_bon(m), abs=1e-9)
        assert float(trunc) < 1e-12
    x_delta = 0.6062865254141303
    np.testing.assert_allclose(out.x_delta, x_delta, rtol=1e-13)
    gaps = x_delta - np.asarray(out.reward_per_token)
    assert np.all(gaps > 0) and np.all(np.diff(gaps) < 0)  # increases to x_delta from below
    assert gaps[-1] < 1e-4
    kl_phi = np.asarray(out.kl_to_tilt_per_token)
    assert np.all(np.diff(kl_phi) < 0) and kl_phi[-1] < 1e-4  # (1/m) KL(BoN || phi) -> 0
    # KL(BoN || p) <= log N - (N-1)/N = m delta - 1 + 1/N (Beirami Thm 3.1, per token)
    assert np.all(np.asarray(out.kl_to_ref_per_token) <= 0.2 - (1 - np.exp(-0.2 * ms)) / ms + 1e-12)


def test_kl_over_classes_against_mpmath_small_m():
    # m = 12, delta = 0.2: N = e^2.4, everything exact in mpmath from the binomial law
    m, delta = 12, 0.2
    res = best_of_n_sequence(BERN, m, delta)
    mpmath.mp.dps = 40
    p = mpmath.mpf("0.3")
    lam = mpmath.mpf(float(res.lam))
    n = mpmath.e ** (m * delta)
    pmf = [mpmath.binomial(m, k) * p**k * (1 - p) ** (m - k) for k in range(m + 1)]
    cdf = [mpmath.fsum(pmf[: k + 1]) for k in range(m + 1)]
    z = 0.7 + p * mpmath.e**lam
    phi = [pmf[k] * mpmath.e ** (lam * k) / z**m for k in range(m + 1)]
    pi = [cdf[k] ** n - (cdf[k - 1] ** n if k else 0) for k in range(m + 1)]
    kl_phi = mpmath.fsum(pi[k] * mpmath.log(pi[k] / phi[k]) for k in range(m + 1))
    reward = mpmath.fsum(k * pi[k] for k in range(m + 1))
    assert float(res.kl_to_tilt_per_token) == pytest.approx(float(kl_phi) / m, rel=1e-9)  # lam given to 1e-16
    assert float(res.reward_per_token) == pytest.approx(float(reward) / m, rel=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="m must be a Python int"):
        lattice_sum_law(BERN, 2.5)
    with pytest.raises(ValueError, match="size"):
        lattice_sum_law(BERN, 10, size=5)
    with pytest.raises(ValueError, match="delta must be > 0"):
        best_of_n_sequence(BERN, 10, 0.0)
    with pytest.raises(ValueError, match="normalised"):
        lattice_sum_law(BERN + 0.1, 10)
