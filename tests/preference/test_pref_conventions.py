"""f-DPO's Jensen-Shannon and alpha conventions against kl_lab's generators, at several alpha and beta."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.divergences import f_divergence, kl
from kl_lab.preference import conventions as cv
from kl_lab.preference import fdpo


def _paper_df(name, u, alpha=None):  # Wang et al. 2309.16240v1, Table 1
    if name == "Jensen-Shannon":
        return np.log(2 * u / (1 + u))
    if name == "alpha":
        return (1 - u ** (-alpha)) / alpha
    return np.log(u) + 1 if name == "reverse KL" else -1 / u


@pytest.mark.parametrize("name,alpha", [("Jensen-Shannon", None), ("alpha", 0.2), ("alpha", 0.5), ("alpha", 0.8),
                                        ("reverse KL", None), ("forward KL", None)])  # fmt: skip
@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_fdpo_loss_matches_the_papers_formula(name, alpha, beta):
    rng = np.random.default_rng(0)
    lw, ll, rw, rl = (jnp.asarray(rng.normal(size=5) - 2.0) for _ in range(4))
    g = cv.fdpo_generator(name, alpha)
    ours = fdpo.fdpo_loss(lw, ll, rw, rl, cv.kl_lab_beta(beta, name), g)
    uw, ul = np.exp(np.asarray(lw - rw)), np.exp(np.asarray(ll - rl))
    margin = beta * (_paper_df(name, uw, alpha) - _paper_df(name, ul, alpha))
    np.testing.assert_allclose(ours, np.logaddexp(0.0, -margin), rtol=1e-12, atol=1e-14)


def test_js_would_halve_beta_without_the_conversion():
    u = np.array([0.3, 2.0])
    lw, rw = jnp.log(jnp.asarray(u)), jnp.zeros(2)
    raw = fdpo.implicit_reward(lw, rw, 1.0, cv.fdpo_generator("Jensen-Shannon"))
    np.testing.assert_allclose(2 * raw, _paper_df("Jensen-Shannon", u), rtol=1e-12)


def test_amari_a_is_one_minus_alpha_and_differs_off_half():
    assert cv.kl_lab_amari_a(0.3) == pytest.approx(0.7)
    u = jnp.asarray([0.5, 3.0])
    from kl_lab.divergences import generators as G

    wrong = G.amari_alpha(0.3).df(jnp.log(u))  # the naive reading a = alpha
    assert not np.allclose(wrong, _paper_df("alpha", np.asarray(u), 0.3))


def test_kl_directions_and_labels():
    lp, lq = jax.nn.log_softmax(jnp.array([0.1, 1.0, -2.0])), jax.nn.log_softmax(jnp.array([1.0, 0.0, 0.5]))
    np.testing.assert_allclose(f_divergence(lp, lq, cv.kl_generator("reverse KL")), kl(lp, lq), rtol=1e-12)
    np.testing.assert_allclose(f_divergence(lp, lq, cv.kl_generator("forward KL")), kl(lq, lp), rtol=1e-12)
    assert cv.kl_label("reverse KL") == "reverse KL(pi‖p)"
    assert cv.kl_label("forward KL", target="pi_ref") == "forward KL(pi_ref‖pi)"
    with pytest.raises(ValueError):
        cv.kl_label("KL")
