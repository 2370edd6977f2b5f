"""Issue 14 (items 3, 4): one bad-value policy across alignment, privacy, kde, families, pn_criterion,
projection and preference.

For every public function with a scalar parameter or a distribution: an invalid argument raises
``ValueError`` naming it when called eagerly, and under ``jax.jit`` the result holds no plausible
number (NaN in every floating leaf, ``converged = False`` in a solver result, ``-1`` for indices);
a subset is also run through ``numerics.checked``, which raises the eager message from compiled code.
Each case jits once (small arrays) to keep the suite fast.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab import alignment as A
from kl_lab import families as F
from kl_lab import pn_criterion as PN
from kl_lab import preference as PR
from kl_lab import privacy as P
from kl_lab import projection as PJ
from kl_lab.kde import bandwidth as KB
from kl_lab.kde import estimator as KE
from kl_lab.kde import regimes as KR
from kl_lab.numerics import checked

jax.config.update("jax_enable_x64", True)

LR = jnp.log(jnp.array([0.2, 0.3, 0.5]))
R = jnp.array([1.0, 2.0, 3.0])
KEY = jax.random.key(0)
DATA = jnp.array([[0.0, 1.0], [1.0, 0.5], [-0.5, 0.2], [0.3, -1.0]])
TH_N = F.Normal().from_params(0.0, 1.0)
NAN = float("nan")

# (id, function of the one argument under test, invalid value, the argument's public name)
CASES = [
    ("best_of_n_kl n<1", lambda n: A.best_of_n_kl(LR, R, n), 0.5, "n"),
    ("best_of_n_log_probs n<1", lambda n: A.best_of_n_log_probs(LR, R, n), 0.5, "n"),
    ("best_of_n_expected_reward", lambda n: A.best_of_n_expected_reward(LR, R, n), 0.0, "n"),
    ("best_of_n_win_rate", lambda n: A.best_of_n_win_rate(LR, R, n), NAN, "n"),
    ("expected_bon_kl_estimator", lambda n: A.expected_bon_kl_estimator(LR, R, n), -2.0, "n"),
    ("best_of_n_kl_bound", A.best_of_n_kl_bound, 0.5, "n"),
    ("best_of_n_win_rate_bound", A.best_of_n_win_rate_bound, 0.5, "n"),
    ("bon_kl_estimator", lambda n: A.bon_kl_estimator(-1.0, n), 0.5, "n"),
    ("best_of_n_kl log_ref", lambda lr: A.best_of_n_kl(lr, R, 4.0), LR.at[0].set(NAN), "log_ref"),
    ("kl_rl_policy budget<0", lambda b: A.kl_rl_policy(LR, R, b), -0.1, "kl_budget"),
    ("kl_rl_policy budget>max", lambda b: A.kl_rl_policy(LR, R, b), 5.0, "kl_budget"),
    ("max_kl_budget", lambda lr: A.max_kl_budget(lr, R), LR + 1.0, "log_ref"),
    ("tilt_kl", lambda lam: A.tilt_kl(LR, R, lam), NAN, "lam"),
    ("kl_to_tilt", lambda lam: A.kl_to_tilt(LR, LR, R, lam), NAN, "lam"),
    ("tilt_frontier", lambda lams: A.tilt_frontier(LR, R, lams), jnp.array([0.0, NAN]), "lams"),
    ("log_mgf", lambda s: A.log_mgf(s, LR, R), NAN, "s"),
    ("rate_function", lambda x: A.rate_function(x, LR, R), NAN, "x"),
    ("tilted_rate_function", lambda lam: A.tilted_rate_function(2.5, LR, R, lam), NAN, "lam"),
    ("scaled_cumulant", lambda lam: A.scaled_cumulant(2, LR, R, lam), NAN, "lam"),
    ("scaled_cgf", lambda t: A.scaled_cgf(t, LR, R, 0.5), NAN, "t"),
    ("scaled_cgf_renyi_divergence", lambda lam: A.scaled_cgf_renyi_divergence(0.1, LR, R, lam), -1.0, "lam"),
    ("scaled_cgf_renyi_cross_entropy", lambda lam: A.scaled_cgf_renyi_cross_entropy(0.1, LR, R, lam), -2.0, "lam"),
    ("lattice_sum_law", lambda lam: A.lattice_sum_law(LR, 3, lam), NAN, "lam"),
    ("best_of_n_sequence", lambda dl: A.best_of_n_sequence(LR, 3, dl), -0.1, "delta"),
    ("best_of_n_sample", lambda n: A.best_of_n_sample(KEY, LR, R, n, (3,)), 0.5, "n"),
    # privacy
    ("laplace_mechanism eps=0", lambda e: P.laplace_mechanism(KEY, jnp.zeros((3,)), e, 1.0), 0.0, "epsilon"),
    ("laplace_scale", lambda e: P.laplace_scale(e, 1.0), -1.0, "epsilon"),
    ("laplace_variance", lambda s: P.laplace_variance(1.0, s), 0.0, "sensitivity"),
    ("gaussian_mechanism", lambda s: P.gaussian_mechanism(KEY, jnp.zeros((3,)), s), -1.0, "sigma"),
    ("gaussian_sigma_classic", lambda e: P.gaussian_sigma_classic(e, 1e-5, 1.0), 1.5, "epsilon"),
    ("gaussian_sigma_analytic", lambda d: P.gaussian_sigma_analytic(1.0, d, 1.0), 0.0, "delta"),
    ("analytic_gaussian_log_delta", lambda s: P.analytic_gaussian_log_delta(s, 1.0, 1.0), -1.0, "sigma"),
    ("rr_debias", lambda e: P.rr_debias(jnp.array([0.0, 1.0]), e), 0.0, "epsilon"),
    ("rr_variance", P.rr_variance, -1.0, "epsilon"),
    ("krr_log_probs", lambda e: P.krr_log_probs(e, 3), NAN, "epsilon"),
    ("krr_frequencies", lambda e: P.krr_frequencies(jnp.array([0, 1, 2]), e, 3), 0.0, "epsilon"),
    ("krr_variance", lambda f: P.krr_variance(f, 10.0, 1.0, 3), jnp.array([0.5, 1.5, 0.0]), "freqs"),
    ("duchi_scale", lambda e: P.duchi_scale(e, 3), 0.0, "epsilon"),
    ("duchi_log_probs", lambda e: P.duchi_log_probs(jnp.zeros((1, 2)), e), 0.0, "epsilon"),
    ("piecewise_variance", lambda x: P.piecewise_variance(x, 1.0), 2.0, "x"),
    ("piecewise_log_density", lambda e: P.piecewise_log_density(0.0, 0.0, e), 0.0, "epsilon"),
    ("piecewise_mechanism", lambda e: P.piecewise_mechanism(KEY, jnp.zeros((3,)), e), 0.0, "epsilon"),
    ("randomized_response", lambda e: P.randomized_response(KEY, jnp.array([0, 1]), e), 0.0, "epsilon"),
    ("laplace_max_divergence", lambda b: P.laplace_max_divergence(0.0, 1.0, b), 0.0, "scale"),
    ("gaussian_rdp", lambda s: P.gaussian_rdp(2.0, 1.0, s), 0.0, "sigma"),
    ("rdp_to_dp_epsilon", lambda d: P.rdp_to_dp_epsilon(jnp.array([2.0, 4.0]), jnp.array([1.0, 2.0]), d), 0.0, "delta"),
    ("ldp_epsilon", P.ldp_epsilon, jnp.array([[NAN, 0.0], [0.0, -jnp.inf]]), "log_probs"),
    ("nldp_lower", lambda e: P.nldp_lower(100.0, 10.0, 2.0, e), 0.0, "epsilon"),
    # kde
    ("kde_log_density bandwidth", lambda h: KE.kde_log_density(DATA[:2], DATA, h), 0.0, "bandwidth"),
    ("kde_log_density x_query NaN", lambda x: KE.kde_log_density(x, DATA, 0.5), DATA[:2].at[0, 0].set(NAN), "x_query"),
    ("kde_loo_log_density", lambda h: KE.kde_loo_log_density(DATA, h), -1.0, "bandwidth"),
    ("kde_loo_log_likelihood", lambda d: KE.kde_loo_log_likelihood(d, 0.5), DATA.at[0, 0].set(jnp.inf), "data"),
    ("log_kernel", lambda r2: KE.log_kernel(r2, 2), -1.0, "r2"),
    ("lscv_objective", lambda h: KB.lscv_objective(DATA, h), 0.0, "bandwidth"),
    ("scott", KB.scott, DATA.at[1, 1].set(NAN), "data"),
    ("thresholds alpha<0", KR.thresholds, -1.0, "alpha"),
    ("thresholds alpha=inf", KR.thresholds, jnp.inf, "alpha"),
    ("solve_a", KR.solve_a, 0.0, "alpha"),
    ("s_min", KR.s_min, NAN, "alpha"),
    ("stability_index", lambda h: KR.stability_index(h, 0.2), 0.0, "h"),
    ("log_likelihood_per_dim", lambda a: KR.log_likelihood_per_dim(1.0, a), -0.2, "alpha"),
    ("min_kl_per_dim", KR.min_kl_per_dim, -0.2, "alpha"),
    ("effective_alpha", lambda d: KR.effective_alpha(0.2, d), 0.0, "d"),
    ("regimes.lower_tail_rate", KR.lower_tail_rate, 0.5, "a"),
    # families
    ("Normal.kl NaN", lambda t: F.Normal().kl(t, TH_N), jnp.array([NAN, -0.5]), "theta_p"),
    ("Poisson.kl NaN", lambda t: F.Poisson().kl(t, jnp.array([0.0])), jnp.array([NAN]), "theta_p"),
    ("Gamma.kl outside", lambda t: F.Gamma().kl(jnp.array([0.0, -1.0]), t), jnp.array([0.0, 1.0]), "theta_q"),
    ("Normal.mean outside", F.Normal().mean, jnp.array([0.0, 0.5]), "theta"),
    ("Bernoulli.entropy NaN", F.Bernoulli().entropy, jnp.array([NAN]), "theta"),
    ("Normal.log_partition NaN", F.Normal().log_partition, jnp.array([NAN, -0.5]), "theta"),
    ("Normal.log_prob x NaN", lambda x: F.Normal().log_prob(x, TH_N), NAN, "x"),
    ("Normal.renyi alpha", lambda a: F.Normal().renyi(TH_N, TH_N, a), -1.0, "alpha"),
    ("Gamma.natural_from_mean inf", F.Gamma().natural_from_mean, jnp.array([jnp.inf, jnp.inf]), "eta"),
    ("Normal.natural_from_mean NaN", F.Normal().natural_from_mean, jnp.array([NAN, 1.0]), "eta"),
    ("Exponential.sample", lambda t: F.Exponential().sample(KEY, t, (2,)), jnp.array([1.0]), "theta"),
    ("Normal.from_params scale", lambda s: F.Normal().from_params(0.0, s), 0.0, "scale"),
    ("Bernoulli.from_params p", F.Bernoulli().from_params, 1.5, "p"),
    ("Gamma.from_params rate", lambda b: F.Gamma().from_params(2.0, b), -1.0, "rate"),
    # projection
    ("tilt lam NaN", lambda lam: PJ.tilt(LR, R, lam), NAN, "lam"),
    ("tilt log_p NaN", lambda lp: PJ.tilt(lp, R, 1.0), LR.at[1].set(NAN), "log_p"),
    ("m_projection", lambda e: PJ.m_projection(F.Normal(), e), jnp.array([0.0, jnp.inf]), "target_stats_mean"),
    # pn_criterion
    (
        "risk_coefficients stats_cov",
        lambda c: PN.risk_coefficients(F.Poisson(), jnp.array([2.0]), c, jnp.zeros((1, 1, 1))),
        jnp.array([[-2.0]]),
        "stats_cov",
    ),
    (
        "risk_coefficients_at stats_cov",
        lambda c: PN.risk_coefficients_at(F.Poisson(), jnp.array([0.5]), c, jnp.zeros((1, 1, 1))),
        jnp.array([[NAN]]),
        "stats_cov",
    ),
    ("predicted_risk", lambda n: PN.predicted_risk(1.0, 1.0, n), 0.0, "n"),
    ("kl_threshold", PN.kl_threshold, 0.7, "epsilon"),
    ("min_sample_size", lambda r: PN.min_sample_size(1.0, 1.0, r), 0.0, "risk_threshold"),
    ("exact_risk_exponential", lambda s: PN.exact_risk_exponential(10.0, s), -1.0, "shape"),
    # preference
    ("filtering_kl", lambda p: PR.filtering_kl(p, 1.0), 1.5, "p"),
    ("filtering_kl_argmax", PR.filtering_kl_argmax, -1.0, "lam"),
    ("analytic_init", lambda a: PR.analytic_init(jnp.zeros(2), 1.0, a), 1.5, "alpha_bar"),
    ("gaussian_noise_tv", lambda s: PR.gaussian_noise_tv(1.0, s), 0.0, "sigma"),
    ("dropout_tv_contraction_bound", lambda q: PR.dropout_tv_contraction_bound(q, 4), -0.1, "drop_prob"),
    ("mirror_step", lambda b: PR.mirror_step(LR, LR, R, b, 0.1), 0.0, "beta"),
]

# the cases also run through numerics.checked (one per module family; each is one more compilation)
CHECKED = {
    "best_of_n_kl n<1",
    "kl_rl_policy budget<0",
    "laplace_mechanism eps=0",
    "thresholds alpha<0",
    "Normal.kl NaN",
    "tilt lam NaN",
    "risk_coefficients stats_cov",
    "kde_log_density x_query NaN",
    "mirror_step",
}


def _assert_no_plausible_number(out):
    leaves = jax.tree_util.tree_leaves(out)
    if hasattr(out, "_fields") and "converged" in out._fields:
        assert not np.any(np.asarray(out.converged)), "a solver result reported converged=True"
    floats = [np.asarray(x) for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    ints = [np.asarray(x) for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer)]
    if floats:
        assert all(np.all(np.isnan(x)) for x in floats), f"finite output for an invalid argument: {out}"
    else:  # index-valued outputs cannot be NaN: -1 is not a valid outcome
        assert ints and all(np.all(x == -1) for x in ints), f"valid-looking indices for an invalid argument: {out}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_invalid_argument_eager_raises_and_jit_poisons(case):
    _, fn, bad, name = case
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        fn(bad)
    _assert_no_plausible_number(jax.jit(fn)(jnp.asarray(bad)))
    if case[0] in CHECKED:
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            checked(fn)(jnp.asarray(bad))


# --------------------------------------------------------------------------- the named defects
def test_best_of_n_kl_fractional_n_below_one_is_nan_under_jit():
    # was 0.15 under jit: n must be >= 1
    assert np.isnan(jax.jit(A.best_of_n_kl)(LR, R, 0.5))


def test_laplace_mechanism_eps_zero_is_not_infinite():
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        P.laplace_mechanism(KEY, jnp.zeros(3), 0.0, 1.0)
    out = jax.jit(P.laplace_mechanism)(KEY, jnp.zeros(3), 0.0, 1.0)
    assert np.all(np.isnan(out))  # was +-inf


def test_kl_rl_policy_negative_budget_not_converged_under_jit():
    res = jax.jit(A.kl_rl_policy)(LR, R, -0.1)
    assert not bool(res.converged) and np.isnan(res.lam)


def test_lists_and_tuples_accepted_everywhere_arrays_are():
    lr, r = [float(v) for v in LR], (1.0, 2.0, 3.0)
    assert float(A.best_of_n_kl(lr, r, 4.0)) == float(A.best_of_n_kl(LR, R, 4.0))
    assert float(A.max_kl_budget(lr, r)) == float(A.max_kl_budget(LR, R))
    assert np.array_equal(PJ.tilt(lr, list(r), 1.0).log_probs, PJ.tilt(LR, R, 1.0).log_probs)
    assert np.array_equal(
        KE.kde_log_density([[0.0, 0.0]], DATA.tolist(), 0.5), KE.kde_log_density(jnp.zeros((1, 2)), DATA, 0.5)
    )
    assert float(F.Normal().kl([0.0, -0.5], (0.0, -0.5))) == 0.0
    assert np.array_equal(
        P.laplace_mechanism(KEY, [0.0, 1.0], 1.0, 1.0), P.laplace_mechanism(KEY, jnp.array([0.0, 1.0]), 1.0, 1.0)
    )


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_computed_in_float32_and_cast_back(dtype):
    # tolerance 8 eps(dtype): each input rounded to half an ulp, amplified by condition numbers of a few,
    # plus one rounding of the output (a result computed in bfloat16 itself is off by ~V eps more)
    eps = float(jnp.finfo(dtype).eps)
    lp16 = LR.astype(dtype)
    out = A.best_of_n_kl(lp16, R, 4.0)
    assert out.dtype == dtype
    np.testing.assert_allclose(float(out), float(A.best_of_n_kl(LR, R, 4.0)), rtol=8 * eps)
    t = PJ.tilt(lp16, R, 1.0)
    assert t.log_probs.dtype == dtype
    np.testing.assert_allclose(float(t.mean), float(PJ.tilt(LR, R, 1.0).mean), rtol=8 * eps)
    m = F.Normal().mean(TH_N.astype(dtype))
    assert m.dtype == dtype
    np.testing.assert_allclose(np.asarray(m, float), [0.0, 1.0], atol=8 * eps)


def test_empty_distribution_axis_raises_and_empty_batch_gives_empty_result():
    with pytest.raises(ValueError, match="log_ref must hold at least one entry"):
        A.best_of_n_kl(jnp.zeros((0,)), jnp.zeros((0,)), 2.0)
    with pytest.raises(ValueError, match="log_p must hold at least one entry"):
        PJ.tilt(jnp.zeros((0,)), jnp.zeros((0,)), 1.0)
    with pytest.raises(ValueError, match="data must hold at least one point"):
        KE.kde_log_density(jnp.zeros((1, 2)), jnp.zeros((0, 2)), 0.5)
    assert A.best_of_n_kl(jnp.zeros((0, 3)), jnp.zeros((0, 3)), 2.0).shape == (0,)
    assert KE.kde_log_density(jnp.zeros((0, 2)), DATA, 0.5).shape == (0,)
    assert F.Normal().kl(jnp.zeros((0, 2)), TH_N).shape == (0,)


def test_kde_log_density_checks_x_query_shape():
    with pytest.raises(ValueError, match="x_query and data must share the dimension d"):
        KE.kde_log_density(jnp.zeros((2, 3)), DATA, 0.5)
    with pytest.raises(ValueError, match="x_query must have rank 2"):
        KE.kde_log_density(jnp.zeros((2,)), DATA, 0.5)
