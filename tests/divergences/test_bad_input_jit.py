"""Issue 14: no public function returns a finite number for an invalid argument under jit.

One table row per public function of kl_lab.divergences and kl_lab.distillation that takes a
distribution (log-probabilities, logits, log densities, samples) or a scalar parameter. Each row
gives the function as a closure over its static arguments, one valid and one invalid set of traced
arguments, and the public argument the message must name. For every row:

* eagerly the invalid call raises ``ValueError`` naming that argument;
* ``jax.jit`` of the same function returns NaN in every floating output (``converged=False`` for
  solvers) -- and a non-poisoned result on the valid arguments (same shapes: one compilation);
* ``kl_lab.numerics.checked`` raises the eager message from compiled code.

Not in the table: the generator objects (their ``f``, ``conjugate``, ... are defined on all of R),
``pld_permutation`` (integer output: nothing to poison), ``weighting_efficiency`` and ``fit_beta_kernel``
(any real input is in their domain; NaN in gives NaN out).
"""

import jax
import numpy as np
import pytest

from kl_lab import distillation as K
from kl_lab import numerics as nm
from kl_lab.distillation import toys
from kl_lab.divergences import discrete as D
from kl_lab.divergences import estimators as E
from kl_lab.divergences import gaussian as Ga
from kl_lab.divergences import generators as G
from kl_lab.divergences import information, knn, ot_exact, transport

NAN = np.nan
LP = np.log(np.array([0.2, 0.3, 0.5]))
LQ = np.log(np.array([0.5, 0.25, 0.25]))
LP_NAN = LP.copy()
LP_NAN[1] = NAN
LP_UNNORM = np.log(np.array([0.2, 0.3, 0.6]))
Z = np.array([[0.3, -1.0, 2.0, 0.5], [1.2, 0.1, -0.4, 0.0]])
ZT = np.array([[1.0, 0.2, -0.3, 0.8], [-0.7, 0.9, 0.4, 0.1]])
Z_NAN = Z.copy()
Z_NAN[1, 2] = NAN
LABELS = np.array([2, 0])
M, C = np.array([0.1, -0.2]), np.array([[1.0, 0.3], [0.3, 2.0]])
M2, C2 = np.array([0.0, 0.4]), np.array([[1.5, -0.2], [-0.2, 0.8]])
M_NAN = np.array([NAN, -0.2])
V, V2, V_NEG = np.array([1.0, 2.0]), np.array([0.5, 1.5]), np.array([1.0, -2.0])
S_P = np.array([-1.2, -0.8, -1.5, -0.3])  # log p at 4 samples
S_Q = np.array([-1.0, -1.1, -0.9, -0.7])
S_P_NAN = np.array([-1.2, NAN, -1.5, -0.3])
X = np.array([[0.0, 0.1], [0.9, 0.3], [0.4, 1.1], [1.6, 0.5], [0.2, 0.7]])
Y = np.array([[0.5, 0.2], [1.3, 1.0], [0.1, 0.4], [0.8, 0.9]])
X_NAN = X.copy()
X_NAN[2, 1] = NAN
COST = np.abs(np.arange(3.0)[:, None] - np.arange(3.0)[None, :])
PASS = np.array([0.1, 0.5, 0.9])


NO_PARAMS = [e for e in D.DIVERGENCES.values() if not e.params]  # from the registration table


def _pair(f):
    return (f, (LP, LQ), (LP_NAN, LQ), "log_p")


# (id, function of the traced arguments, valid arguments, invalid arguments, argument the message names)
CASES = [
    # discrete divergences and entropies: a NaN in log_p (issue 14: jit(f_divergence) returned 0.3718)
    *[(e.name, *_pair(e.fn)[:3], "log_p") for e in NO_PARAMS],  # every parameter-free entry of the table
    ("kl-log_q-unnormalised", D.kl, (LP, LQ), (LP, LP_UNNORM), "log_q"),
    ("f_divergence", lambda p, q: D.f_divergence(p, q, G.kl), (LP, LQ), (LP_NAN, LQ), "log_p"),
    ("entropy", D.entropy, (LP,), (LP_UNNORM,), "log_p"),
    # Rényi family: alpha out of its domain, traced (issue 14: jit(renyi) with alpha=-1 returned 0)
    ("renyi-alpha", D.renyi, (LP, LQ, 2.0), (LP, LQ, -1.0), "alpha"),
    ("amari_alpha-alpha", D.amari_alpha, (LP, LQ, 2.0), (LP, LQ, np.inf), "alpha"),
    ("renyi_cross_entropy-alpha", D.renyi_cross_entropy, (LP, LQ, 0.5), (LP, LQ, NAN), "alpha"),
    # issue 18 item 6: Tsallis index, skew-JS weight, negative Rényi order out of their domains, traced
    ("tsallis-q", D.tsallis, (LP, LQ, 2.0), (LP, LQ, -1.0), "q"),
    ("skew_js-weight", D.skew_js, (LP, LQ, 0.3), (LP, LQ, 1.5), "weight"),
    ("renyi_negative-alpha", D.renyi_negative, (LP, LQ, -0.5), (LP, LQ, 0.5), "alpha"),
    ("tsallis_entropy-q", information.tsallis_entropy, (LP, 2.0), (LP, NAN), "q"),
    ("mutual_information", information.mutual_information, (LP.reshape(1, 3),), (LP_UNNORM.reshape(1, 3),), "log_pxy"),
    ("wasserstein_1d", lambda x, y: ot_exact.wasserstein_1d(x, y, 2.0), (LP, LQ), (LP_NAN, LQ), "x"),
    # *_from_logits
    *[(e.from_logits.__name__, e.from_logits, (Z, ZT), (Z_NAN, ZT), "logits_p") for e in NO_PARAMS],
    ("kl_from_logits-q", D.kl_from_logits, (Z, ZT), (Z, Z_NAN), "logits_q"),
    ("entropy_from_logits", D.entropy_from_logits, (Z,), (np.full((2, 4), -np.inf),), "logits"),
    (
        "f_divergence_from_logits",
        lambda a, b: D.f_divergence_from_logits(a, b, G.js),
        (Z, ZT),
        (Z_NAN, ZT),
        "logits_p",
    ),
    ("renyi_from_logits", D.renyi_from_logits, (Z, ZT, 0.5), (Z, ZT, -0.5), "alpha"),
    ("amari_alpha_from_logits", D.amari_alpha_from_logits, (Z, ZT, 0.5), (Z, ZT, NAN), "alpha"),
    ("renyi_cross_entropy_from_logits", D.renyi_cross_entropy_from_logits, (Z, ZT, 0.5), (Z, ZT, -1.0), "alpha"),
    ("tsallis_from_logits", D.tsallis_from_logits, (Z, ZT, 0.5), (Z, ZT, 0.0), "q"),
    ("skew_js_from_logits", D.skew_js_from_logits, (Z, ZT, 0.5), (Z, ZT, -0.1), "weight"),
    # Gaussian closed forms
    ("gaussian_kl", Ga.gaussian_kl, (M, C, M2, C2), (M_NAN, C, M2, C2), "mean_p"),
    ("gaussian_renyi", Ga.gaussian_renyi, (M, C, M2, C2, 0.5), (M, C, M2, C2, -1.0), "alpha"),
    ("gaussian_bhattacharyya", Ga.gaussian_bhattacharyya, (M, C, M2, C2), (M, C, M_NAN, C2), "mean_q"),
    ("gaussian_squared_hellinger", Ga.gaussian_squared_hellinger, (M, C, M2, C2), (M, C * NAN, M2, C2), "cov_p"),
    ("gaussian_w2", Ga.gaussian_w2, (M, C, M2, C2), (M, C, M2, C2 * np.inf), "cov_q"),
    ("gaussian_kl_diag", Ga.gaussian_kl_diag, (M, V, M2, V2), (M, V_NEG, M2, V2), "var_p"),
    ("gaussian_renyi_diag", Ga.gaussian_renyi_diag, (M, V, M2, V2, 2.0), (M, V, M2, V2, NAN), "alpha"),
    ("gaussian_bhattacharyya_diag", Ga.gaussian_bhattacharyya_diag, (M, V, M2, V2), (M, V, M2, -V2), "var_q"),
    (
        "gaussian_squared_hellinger_diag",
        Ga.gaussian_squared_hellinger_diag,
        (M, V, M2, V2),
        (M_NAN, V, M2, V2),
        "mean_p",
    ),
    ("gaussian_w2_diag", Ga.gaussian_w2_diag, (M, V, M2, V2), (M, V, M2, V_NEG), "var_q"),
    # sample estimators
    ("mc_kl_terms", E.mc_kl_terms, (S_P, S_Q), (S_P_NAN, S_Q), "log_p_at_x"),
    ("mc_kl", lambda p, q: E.mc_kl(p, q, "k3"), (S_P, S_Q), (S_P_NAN, S_Q), "log_p_at_x"),
    ("mc_kl_importance", E.mc_kl_importance, (S_P, S_Q, S_Q), (S_P, S_Q, S_P_NAN), "log_proposal_at_x"),
    ("knn_kl", knn.knn_kl, (X, Y), (X_NAN, Y), "x"),  # issue 14: returned 691.8 under jit
    ("knn_log_distances", knn.knn_log_distances, (X, Y), (X, Y * np.inf), "y"),
    (
        "donsker_varadhan",
        lambda x, y, lr: E.donsker_varadhan(x, y, jax.random.key(0), hidden=(4,), steps=2, learning_rate=lr),
        (X, Y, 0.01),
        (X, Y, -0.01),
        "learning_rate",
    ),
    ("nwj", lambda x, y: E.nwj(x, y, jax.random.key(0), hidden=(4,), steps=2), (X, Y), (X_NAN, Y), "x"),
    # optimal transport (ott-jax)
    ("entropic_ot", lambda p, q: transport.entropic_ot(p, q, COST, 0.5), (LP, LQ), (LP_UNNORM, LQ), "log_p"),
    (
        "sinkhorn_divergence",
        lambda p, q, e: transport.sinkhorn_divergence(p, q, COST, e),
        (LP, LQ, 0.5),
        (LP, LQ, -0.5),
        "epsilon",
    ),
    ("entropic_ot_pointcloud", lambda x, y: transport.entropic_ot_pointcloud(x, y, 0.5), (X, Y), (X_NAN, Y), "x"),
    ("sinkhorn_divergence_pointcloud", transport.sinkhorn_divergence_pointcloud, (X, Y, 0.5), (X, Y, 0.0), "epsilon"),
    ("w1_ordered", transport.w1_ordered, (LP, LQ), (LP, LP_NAN), "log_q"),
    # distillation losses from logits
    ("log_probs", K.log_probs, (Z, ZT), (Z_NAN, ZT), "student_logits"),
    *[
        (f.__name__, f, (Z, ZT), (Z, Z_NAN), "teacher_logits")
        for f in (
            K.forward_kl_loss,
            K.reverse_kl_loss,
            K.js_loss,
            K.total_variation_loss,
            K.entropy_gap,
        )
    ],
    (
        "forward_kl_loss-temperature",
        lambda s, t, T: K.forward_kl_loss(s, t, temperature=T),
        (Z, ZT, 2.0),
        (Z, ZT, -1.0),
        "temperature",
    ),
    ("skew_kl_loss", lambda s, t, a: K.skew_kl_loss(s, t, skew=a), (Z, ZT, 0.1), (Z, ZT, 1.0), "skew"),
    ("skew_reverse_kl_loss", lambda s, t, a: K.skew_reverse_kl_loss(s, t, skew=a), (Z, ZT, 0.1), (Z, ZT, -0.1), "skew"),
    ("generalized_js_loss", lambda s, t, b: K.generalized_js_loss(s, t, beta=b), (Z, ZT, 0.3), (Z, ZT, 1.5), "beta"),
    (
        "alpha_divergence_loss",
        lambda s, t, a: K.alpha_divergence_loss(s, t, alpha=a),
        (Z, ZT, 0.5),
        (Z, ZT, np.inf),
        "alpha",
    ),
    ("beta_divergence_loss", lambda s, t, b: K.beta_divergence_loss(s, t, beta=b), (Z, ZT, 2.0), (Z, ZT, -1.0), "beta"),
    ("mixed_kl_loss", K.mixed_kl_loss, (Z, ZT, np.array([0.2, 0.9])), (Z, ZT, np.array([0.2, 1.5])), "weight"),
    ("bdkd_weights", lambda s, t, k: K.bdkd_weights(s, t, sharpness=k), (Z, ZT, 0.5), (Z, ZT, -0.5), "sharpness"),
    ("bdkd_loss", K.bdkd_loss, (Z, ZT), (Z_NAN, ZT), "student_logits"),
    ("kl_estimator_loss", K.kl_estimator_loss, (S_P, S_Q), (S_P_NAN, S_Q), "log_pi_at_x"),
    ("expected_estimator_loss", K.expected_estimator_loss, (Z, ZT), (Z_NAN, ZT), "policy_logits"),
    (
        "normalised_weight_variance",
        lambda r, w: K.normalised_weight_variance(G.kl, r, w),
        (S_P, S_Q + 2),
        (S_P, S_Q),
        "weights",
    ),
    ("paced_weight", K.paced_weight, (PASS,), (PASS + 0.5,), "pass_rate"),
    ("rollout_gradient_moments", lambda p: K.rollout_gradient_moments(p, 4), (PASS,), (PASS - 0.5,), "pass_rate"),
    ("gradient_snr", lambda p, f: K.gradient_snr(p, 4, f), (PASS, 0.1), (PASS, -0.1), "noise_floor"),
    ("optimal_weight", lambda p, f: K.optimal_weight(p, 4, f), (PASS, 0.1), (PASS, NAN), "noise_floor"),
    ("pld_weights", K.pld_weights, (ZT, LABELS, 1.0), (ZT, LABELS, 0.0), "temperature"),
    ("plackett_luce_nll", K.plackett_luce_nll, (Z, np.argsort(ZT), ZT), (Z_NAN, np.argsort(ZT), ZT), "student_logits"),
    ("pld_loss", K.pld_loss, (Z, ZT, LABELS), (Z, ZT, np.array([2, 4])), "labels"),
    ("pld_grad", K.pld_grad, (Z, ZT, LABELS), (Z, Z_NAN, LABELS), "teacher_logits"),
    ("sinkd_plan", lambda s, t, e: K.sinkd_plan(s, t, epsilon=e), (Z, ZT, 0.1), (Z, ZT, -0.1), "epsilon"),
    ("sinkd_loss", lambda s, t, T: K.sinkd_loss(s, t, temperature=T), (Z, ZT, 2.0), (Z, ZT, 0.0), "temperature"),
    ("sinkd_divergence", K.sinkd_divergence, (Z, ZT), (Z_NAN, ZT), "student_logits"),
    (
        "sinkd_divergence_loss",
        lambda s, t, e: K.sinkd_divergence_loss(s, t, epsilon=e),
        (Z, ZT, 0.1),
        (Z, ZT, NAN),
        "epsilon",
    ),
    ("mixture_log_probs", lambda m, s, w: toys.mixture_log_probs(m, s, w, 6), (M, V, V2), (M, V, V_NEG), "weights"),
    ("fdistill_weight", lambda r: K.fdistill_weight(G.jeffreys, r), (S_P,), (S_P_NAN,), "log_ratio"),
    (
        "fdistill_surrogate_loss",
        lambda r, x: K.fdistill_surrogate_loss(G.kl, r, S_Q, S_P, x),
        (S_P, S_Q),
        (S_P, S_P_NAN),
        "samples",
    ),
    ("l1_cost_matrix", K.l1_cost_matrix, (Z, ZT), (Z, Z_NAN), "probs_y"),
    ("gaussian_logits", lambda m, s: toys.gaussian_logits(m, s, 5), (M, V), (M_NAN, V), "mean"),
    ("mode_mass", lambda lp: toys.mode_mass(lp, 1.5), (LP,), (LP_UNNORM,), "log_p"),
]


def _leaves(out):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(out)]


def _poisoned(out) -> bool:
    """NaN in every floating leaf, and ``converged`` False where the result has one."""
    conv = getattr(out, "converged", None)
    floats = [x for x in _leaves(out) if np.issubdtype(x.dtype, np.floating)]
    return bool(floats) and all(np.all(np.isnan(x)) for x in floats) and (conv is None or not np.any(conv))


@pytest.mark.parametrize("name,fn,valid,invalid,arg", CASES, ids=[c[0] for c in CASES])
def test_invalid_argument_raises_eagerly_poisons_under_jit_and_checked_raises(name, fn, valid, invalid, arg):
    message = rf"\b{arg} must"
    with pytest.raises(ValueError, match=message):
        fn(*invalid)
    jitted = jax.jit(fn)
    assert _poisoned(jitted(*invalid)), name
    assert not _poisoned(jitted(*valid)), name  # same shapes, same program: poisoning depends on the values
    with pytest.raises(ValueError, match=message):
        nm.checked(fn)(*invalid)
