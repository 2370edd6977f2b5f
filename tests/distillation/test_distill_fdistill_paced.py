"""f-distill weights and surrogate gradient; PACED weights and the hypothesised Bernoulli-rollout model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import binom

from kl_lab import distillation as dl
from kl_lab.distillation.toys import gaussian_logits, mixture_log_probs, mode_mass
from kl_lab.divergences import generators as gen

LOG_R = np.linspace(-5.0, 5.0, 41)


def test_fdistill_weights_match_table_1():
    r = np.exp(LOG_R)
    table = {  # arXiv:2502.15681 Table 1, with kl_lab's normalisations (JS is half of TFP's f)
        gen.reverse_kl: np.ones_like(r),
        gen.softened_reverse_kl: 1 / (r + 1),
        gen.jensen_shannon: r / (r + 1) / 2,
        gen.squared_hellinger: np.sqrt(r) / 4,
        gen.kl: r,
        gen.jeffreys: r + 1,
    }
    for g, h in table.items():
        np.testing.assert_allclose(dl.fdistill_weight(g, LOG_R), h, rtol=1e-12, err_msg=g.name)
    with pytest.raises(TypeError, match="Generator"):
        dl.fdistill_weight(lambda x: x, LOG_R)


def test_surrogate_gradient_identity():
    """grad D_f(p || q_theta) = E_z[h(r)(s_q - s_p) dG/dtheta] on 1-D Gaussians (Gauss-Hermite, 120 nodes)."""
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    mp, sp = 1.3, 0.7

    def log_n(x, m, s):
        return -0.5 * ((x - m) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi)

    for g in (gen.kl, gen.jensen_shannon, gen.squared_hellinger, gen.reverse_kl):

        def d_f(th, g=g):
            x = th[0] + jnp.exp(th[1]) * z
            return jnp.sum(w * g.f(log_n(x, mp, sp) - log_n(x, th[0], jnp.exp(th[1]))))

        def surrogate(th, g=g):
            x = th[0] + jnp.exp(th[1]) * z
            a, s = jax.lax.stop_gradient(th[0]), jax.lax.stop_gradient(jnp.exp(th[1]))
            lr = log_n(x, mp, sp) - log_n(x, a, s)
            return dl.fdistill_surrogate_loss(g, lr, -(x - a) / s**2, -(x - mp) / sp**2, x * w * z.size)

        th = jnp.array([0.2, 0.1])
        # the identity drops E_q[score_theta * phi] = 0, integrated to ~1e-9 by 120 nodes
        np.testing.assert_allclose(jax.grad(surrogate)(th), jax.grad(d_f)(th), atol=1e-7, err_msg=g.name)


def test_normalised_weight_variance_closed_forms():
    z, w = np.polynomial.hermite_e.hermegauss(200)
    for mu in (1.0, 2.0):
        lr = mu * z - mu**2 / 2  # log N(mu, 1) / N(0, 1)
        # E_q r^s = exp(s (s - 1) mu^2 / 2): forward KL e^{mu^2} - 1, Hellinger e^{mu^2/4} - 1
        np.testing.assert_allclose(dl.normalised_weight_variance(gen.kl, lr, w), np.expm1(mu**2), rtol=1e-9)
        np.testing.assert_allclose(
            dl.normalised_weight_variance(gen.squared_hellinger, lr, w), np.expm1(mu**2 / 4), rtol=1e-9
        )


def test_paced_weight_and_moments():
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(dl.paced_weight(p, 2.0, 0.5), p**2 * (1 - p) ** 0.5, atol=1e-15)
    np.testing.assert_allclose(dl.paced_weight(p, 0.0, 1.0), 1 - p, atol=1e-15)  # 0^0 = 1 at p = 0
    g = 6
    m = dl.rollout_gradient_moments(p, g)
    k = np.arange(g + 1)
    val = (k / g) * (1 - k / g)
    pmf = binom.pmf(k[None, :], g, p[:, None])  # scipy's binomial as the independent reference
    mean = (pmf * val).sum(-1)
    np.testing.assert_allclose(m.signal, mean, atol=1e-15)
    np.testing.assert_allclose(m.signal, (1 - 1 / g) * p * (1 - p), atol=1e-15)
    np.testing.assert_allclose(m.variance, (pmf * val**2).sum(-1) - mean**2, atol=1e-15)
    snr = dl.gradient_snr(p, g, 0.01)
    np.testing.assert_allclose(snr, snr[::-1], atol=1e-14)
    assert snr[0] == 0 and snr[-1] == 0 and np.argmax(snr) == 5
    # edge limit of the optimal weight without a noise floor: G^2 / (G - 1)
    w = dl.optimal_weight(np.array([0.0, 1e-6]), g, 0.0)
    np.testing.assert_allclose(w, g**2 / (g - 1), rtol=1e-4)  # O(p G) correction at p = 1e-6
    with pytest.raises(ValueError, match="group_size"):
        dl.rollout_gradient_moments(p, 1)
    with pytest.raises(ValueError, match="pass_rate"):
        dl.paced_weight(np.array([1.5]))


def test_efficiency_optimum_and_beta_fit(key):
    p = np.linspace(0, 1, 101)
    xi = jax.random.uniform(key, p.shape, minval=-1, maxval=1)

    @jax.jit
    def efficiencies(p):
        m = dl.rollout_gradient_moments(p, 8)
        v = m.variance + 0.01
        w_star = dl.optimal_weight(p, 8, 0.01)
        return jnp.stack([dl.weighting_efficiency(w_star * (1 + d * xi), m.signal, v) for d in (0.0, 0.01, 0.1)])

    eff = efficiencies(p)
    np.testing.assert_allclose(eff[0], 1.0, rtol=1e-12)  # Cauchy-Schwarz equality at w* = s / v
    assert eff[1] < 1.0 and eff[2] < eff[1]
    fit = jax.jit(dl.fit_beta_kernel)(p, dl.paced_weight(p, 1.7, 0.4) * 3.0)
    np.testing.assert_allclose([fit.alpha, fit.beta, fit.log_scale], [1.7, 0.4, np.log(3.0)], atol=1e-10)
    assert fit.residual < 1e-10


def test_toys():
    lp = jax.nn.log_softmax(gaussian_logits(jnp.array(10.0), jnp.array(np.log(2.0)), 40))
    i = np.arange(40)
    np.testing.assert_allclose(np.exp(lp) @ i, 10.0, atol=1e-6)  # untruncated: mean = mu
    t = mixture_log_probs((10.0, 29.0), (2.0, 2.0), (0.6, 0.4), 40)
    np.testing.assert_allclose(mode_mass(t, 19.5), 0.6, atol=1e-6)  # tails of width-2 components beyond 9.5 sigma
    with pytest.raises(ValueError, match="num_classes"):
        gaussian_logits(0.0, 0.0, 1)


# --- the practical (released-code) f-distill weight -------------------------------------------------------------


def _mp_clipped_moment(k, mu, lo, hi):
    """E[clip(r, lo, hi)^k], r = exp(mu x - mu^2/2), x ~ N(0, 1): mpmath quadrature split at the clip points."""
    import mpmath as mp

    mp.mp.dps = 30
    f = lambda x: min(max(mp.e ** (mu * x - mu**2 / 2), lo), hi) ** k * mp.npdf(x)  # noqa: E731
    if mu == 0:
        return float(min(max(1.0, lo), hi) ** k)
    cuts = sorted([(mp.log(lo) + mu**2 / 2) / mu, (mp.log(hi) + mu**2 / 2) / mu])
    return float(mp.quad(f, [-mp.inf, *cuts, mp.inf]))


@pytest.mark.parametrize("mu", [-2.0, 0.0, 0.4, 1.0, 3.0, 5.0])
def test_gaussian_clipped_ratio_moment_against_mpmath(mu):
    for k in (1, 2):
        for lo, hi in ((0.1, 20.0), (0.5, 3.0)):
            got = float(dl.gaussian_clipped_ratio_moment(k, mu, lo, hi))
            np.testing.assert_allclose(got, _mp_clipped_moment(k, mu, lo, hi), rtol=1e-10)  # ndtr: ~1e-15 relative
    # a clip far outside the bulk leaves the unclipped moment e^{k(k-1) mu^2 / 2}
    np.testing.assert_allclose(float(dl.gaussian_clipped_ratio_moment(2, 1.0, 1e-30, 1e30)), np.e, rtol=1e-12)
    with pytest.raises(ValueError, match="0 < lower < upper"):
        dl.gaussian_clipped_ratio_moment(1, 1.0, 2.0, 1.0)


def _fastgen_numpy(h_fn, log_r, t_bins, num_bins, lo=0.1, hi=20.0):
    """The released algorithm, transcribed to numpy (bincount per noise bin, EMA rate 0, epsilons dropped)."""
    r = np.clip(np.exp(np.clip(log_r, -10, 10)), lo, hi)
    cnt = np.bincount(t_bins, minlength=num_bins)
    s = np.bincount(t_bins, weights=r, minlength=num_bins)
    r = r / (s / np.maximum(cnt, 1))[t_bins]
    h = h_fn(r)
    return h / h.mean()


def test_practical_weight_matches_released_algorithm(key):
    k1, k2 = jax.random.split(key)
    log_r = 3.0 * np.asarray(jax.random.normal(k1, (64,)))
    bins = np.asarray(jax.random.randint(k2, (64,), 0, 4))
    for g, h_fn in (
        (gen.kl, lambda r: r),
        (gen.jensen_shannon, lambda r: r / (1 + r)),
        (gen.jeffreys, lambda r: 1 + r),
    ):
        got = dl.practical_fdistill_weight(g, log_r, bin_index=bins, num_bins=4)
        np.testing.assert_allclose(got, _fastgen_numpy(h_fn, log_r, bins, 4), rtol=1e-12, err_msg=g.name)
        np.testing.assert_allclose(np.mean(got), 1.0, rtol=1e-12)
    # one bin, no normalisation, no clip: h / mean(h) of the exact weight
    got = dl.practical_fdistill_weight(gen.kl, log_r, ratio_range=None, normalise_ratio=False, logit_clamp=None)
    np.testing.assert_allclose(got, np.exp(log_r) / np.exp(log_r).mean(), rtol=1e-12)


def test_clipped_variance_is_bounded_by_kantorovich(key):
    """Var r / (E r)^2 <= (b - a)^2 / (4ab) for r in [a, b] (Kantorovich): whatever the batch, however far p is."""
    bound = (20 - 0.1) ** 2 / (4 * 0.1 * 20)
    for i, scale in enumerate((1.0, 5.0, 50.0)):
        lr = scale * np.asarray(jax.random.normal(jax.random.fold_in(key, i), (500,)))
        nv = float(dl.normalised_weight_variance(gen.kl, lr, ratio_range=(0.1, 20.0)))
        assert 0 <= nv <= bound + 1e-12
    two_point = np.log(np.array([0.1, 20.0]))  # the bound is attained at the two-point law with mass b/(a+b) on a
    nv = dl.normalised_weight_variance(gen.kl, two_point, np.array([20.0, 0.1]), ratio_range=(0.1, 20.0))
    np.testing.assert_allclose(nv, bound, rtol=1e-12)


def test_practical_weight_bad_input():
    lr = np.zeros(4)
    with pytest.raises(ValueError, match="ratio_range"):
        dl.practical_fdistill_weight(gen.kl, lr, ratio_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="bin_index must lie"):
        dl.practical_fdistill_weight(gen.kl, lr, bin_index=np.array([0, 1, 2, 5]), num_bins=3)
    with pytest.raises(ValueError, match="bin_index must be an integer array"):
        dl.practical_fdistill_weight(gen.kl, lr, bin_index=np.array([0.0, 1, 2, 2]), num_bins=3)
    with pytest.raises(ValueError, match="num_bins"):
        dl.practical_fdistill_weight(gen.kl, lr, num_bins=0)
    with pytest.raises(ValueError, match="NaN"):
        dl.practical_fdistill_weight(gen.kl, np.array([0.0, np.nan]))
    assert np.isnan(jax.jit(lambda x: dl.practical_fdistill_weight(gen.kl, x))(jnp.array([0.0, jnp.nan]))).all()


def test_weight_tail_exponents_table_1():
    # h from Table 1: r^kappa at 0 and at infinity, read off the formulas (1, 1/(r+1), r/(r+1), sqrt r, r, r + 1)
    expected = {
        gen.reverse_kl: (0, 0), gen.softened_reverse_kl: (0, -1), gen.jensen_shannon: (1, 0),
        gen.squared_hellinger: (0.5, 0.5), gen.kl: (1, 1), gen.jeffreys: (0, 1),
    }  # fmt: skip
    for g, (k0, kinf) in expected.items():
        e0, einf = dl.weight_tail_exponents(g)
        np.testing.assert_allclose([e0, einf], [k0, kinf], atol=1e-12, err_msg=g.name)  # corrections O(e^-40)
