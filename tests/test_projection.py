"""M- and I-projections: Pythagorean identities, duality, infeasible targets, the sample variant.

KL values on the left of every identity are computed independently of the projection code: exact
enumeration over a finite support, or scipy.integrate.quad for continuous targets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sps
import scipy.stats as st

from kl_lab import families as F
from kl_lab import projection as P

QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 400}


def _quad(fn, lo, hi):
    return si.quad(fn, lo, hi, **QUAD)[0]


# ----------------------------------------------------------------------------- M-projection
def test_m_projection_pythagoras_discrete_target():
    """g on {0..K}; families Poisson, Binomial(K), Geometric: KL(g||p) = KL(g||p*) + KL(p*||p)."""
    rng = np.random.default_rng(0)
    k = 25
    xs = np.arange(k + 1)
    g = rng.dirichlet(np.ones(k + 1) * 0.7)
    thetas = {"poisson": [[-0.5], [1.0], [2.5]], "binomial": [[-2.0], [0.3], [1.0]], "geometric": [[-0.1], [-1.5]]}
    for name, fam in (("poisson", F.Poisson()), ("binomial", F.Binomial(k)), ("geometric", F.Geometric())):
        eta = g @ np.asarray(fam.sufficient_stats(jnp.asarray(xs, float)))
        res = P.m_projection(fam, jnp.asarray(eta))
        assert bool(res.converged), name

        def kl_g(theta, fam=fam):  # exact enumeration: g lives on {0..K}
            return float(np.sum(sps.xlogy(g, g) - g * np.asarray(fam.log_prob(jnp.asarray(xs, float), theta))))

        for th in thetas[name]:
            th = jnp.asarray(th, float)
            lhs = kl_g(th)
            rhs = kl_g(res.theta) + float(fam.kl(res.theta, th))
            assert abs(lhs - rhs) <= 1e-10, (name, lhs, rhs)  # float64 sums of 26 terms of size < 100
            assert kl_g(res.theta) <= lhs + 1e-12  # p* is the minimiser


CONT_TARGETS = {
    # name: (family, target density, support, E_g t computed by quadrature)
    "mixture->normal": (
        F.Normal(),
        lambda x: 0.3 * st.norm.pdf(x, -2, 0.6) + 0.7 * st.norm.pdf(x, 1.5, 1.0),
        (-np.inf, np.inf),
    ),
    "student->normal": (F.Normal(), lambda x: st.t.pdf(x, 5), (-np.inf, np.inf)),
    "lognormal->gamma": (F.Gamma(), lambda x: st.lognorm.pdf(x, 0.6), (0, np.inf)),
}


@pytest.mark.parametrize("name", sorted(CONT_TARGETS))
def test_m_projection_pythagoras_continuous_target(name):
    fam, g, (lo, hi) = CONT_TARGETS[name]
    d = fam.dim

    def t(x):  # numpy statistics: a jax call per quadrature node would dominate the run time
        return np.array([x, x * x]) if isinstance(fam, F.Normal) else np.array([np.log(x), x])

    eta = np.array([_quad(lambda x, i=i: g(x) * t(x)[i], lo, hi) for i in range(d)])
    res = P.m_projection(fam, jnp.asarray(eta))
    assert bool(res.converged), res
    np.testing.assert_allclose(fam.mean(res.theta), eta, atol=1e-11)  # moment matching

    def kl_g(theta):  # log p_theta(x) = <theta, t(x)> + log h(x) - psi(theta), with t and log h in numpy
        th, psi = np.asarray(theta), float(fam.log_partition(theta))
        log_h = -0.5 * np.log(2 * np.pi) if isinstance(fam, F.Normal) else 0.0

        def integrand(x):
            return sps.xlogy(g(x), g(x)) - g(x) * (th @ t(x) + log_h - psi)

        return _quad(integrand, lo, hi)

    kl_star = kl_g(res.theta)
    others = np.asarray(res.theta) + np.array([[0.3, -0.05], [-0.2, 0.1], [0.5, -0.2]])[:, :d]
    for th in others:
        th = jnp.asarray(th)
        lhs = kl_g(th)
        rhs = kl_star + float(fam.kl(res.theta, th))
        # 1e-10: quadrature asked for 1e-13 relative of integrands of size ~1
        assert abs(lhs - rhs) <= 1e-10, (lhs, rhs)


def test_m_projection_from_samples_is_the_mle(key):
    x = jax.random.gamma(key, 2.7, (3000,)) / 1.3
    res = P.m_projection_from_samples(F.Gamma(), x)
    assert bool(res.converged)
    a, _, scale = st.gamma.fit(np.asarray(x), floc=0)
    # scipy's MLE comes from an optimiser stopping at ~1e-7 relative on the likelihood
    np.testing.assert_allclose([res.theta[0] + 1, -res.theta[1]], [a, 1 / scale], rtol=1e-5)
    n = P.m_projection_from_samples(F.Normal(), x)
    mu, var = F.Normal().to_params(n.theta)
    np.testing.assert_allclose([mu, var], [np.mean(x), np.var(x)], rtol=1e-12)  # closed form, float64
    w = jnp.where(jnp.arange(3000) < 1000, 1.0, 0.0)
    nw = P.m_projection_from_samples(F.Normal(), x, weights=w)
    np.testing.assert_allclose(F.Normal().to_params(nw.theta)[0], np.mean(x[:1000]), rtol=1e-12)


# ----------------------------------------------------------------------------- I-projection
def _problem(seed, n=40, m=2):
    rng = np.random.default_rng(seed)
    log_p = np.log(rng.dirichlet(np.ones(n)))
    feats = rng.normal(size=(n, m))
    target = rng.dirichlet(np.ones(n)) @ feats  # a point strictly inside the hull
    return log_p, feats, target


def _kl(log_a, log_b):
    a = np.exp(log_a)
    return float(np.sum(np.where(a > 0, a * (log_a - log_b), 0.0)))


def test_i_projection_pythagoras_and_duality():
    log_p, feats, c = _problem(1)
    res = P.i_projection(log_p, feats, c)
    assert bool(res.converged)
    q_star = np.asarray(res.log_q)
    np.testing.assert_allclose(np.exp(q_star) @ feats, c, atol=1e-12)  # on L: residual tolerance 100 eps scale
    kl_star = _kl(q_star, log_p)
    np.testing.assert_allclose(res.kl, kl_star, atol=1e-13)
    assert abs(float(res.kl) - float(res.dual)) <= 1e-12  # duality gap: |lam| * residual
    # q in L: I-projections of other references onto the same L
    rng = np.random.default_rng(2)
    for _ in range(4):
        other = np.log(rng.dirichlet(np.ones(len(log_p))))
        q = np.asarray(P.i_projection(other, feats, c).log_q)
        np.testing.assert_allclose(np.exp(q) @ feats, c, atol=1e-12)
        lhs = _kl(q, log_p)
        rhs = _kl(q, q_star) + kl_star
        assert abs(lhs - rhs) <= 1e-10, (lhs, rhs)  # float64 enumeration over 40 points


def test_i_projection_matches_tilt_and_m_projection():
    log_p, feats, c = _problem(4, m=1)
    res = P.i_projection(log_p, feats, c)
    tl = P.tilt(jnp.asarray(log_p), jnp.asarray(feats[:, 0]), res.lam[0])
    np.testing.assert_allclose(tl.log_probs, res.log_q, atol=1e-12)
    np.testing.assert_allclose(tl.mean, c[0], atol=1e-12)
    # duality: I-projection of p onto {E f = c} = M-projection onto the family exp(<theta, f>) with base p
    log_p, feats, c = _problem(5, m=3)
    fam = F.FiniteExponentialFamily(np.arange(len(log_p)), lambda i: jnp.asarray(feats)[i], log_base_measure=log_p)
    m = P.m_projection(fam, jnp.asarray(c))
    ip = P.i_projection(log_p, feats, c)
    assert bool(m.converged) and bool(ip.converged)
    np.testing.assert_allclose(fam.log_probs(m.theta), ip.log_q, atol=1e-10)


def test_i_projection_rejects_infeasible_targets():
    log_p, feats, _ = _problem(6)
    with pytest.raises(ValueError, match="target\\[1\\]"):
        P.i_projection(log_p, feats, np.array([0.0, 10.0]))
    with pytest.raises(ValueError, match="convex hull"):  # on the boundary: needs an infinite lam
        P.i_projection(log_p, feats, np.array([feats[:, 0].max(), 0.0]))
    # octagon vertices: a point just outside one edge but inside the bounding box [-1, 1]^2
    ang = np.arange(8) * np.pi / 4
    octagon = np.stack([np.cos(ang), np.sin(ang)], 1)
    c = 0.97 * np.array([np.cos(np.pi / 8), np.sin(np.pi / 8)])  # the edge is at radius cos(pi/8) = 0.924
    assert np.all((octagon.min(0) < c) & (c < octagon.max(0)))
    with pytest.raises(ValueError, match="separating hyperplane"):
        P.i_projection(np.full(8, -np.log(8)), octagon, c)
    # zero-mass points do not count: the target must be in the hull of the support of p
    lp = log_p.copy()
    lp[np.argmax(feats[:, 0])] = -np.inf
    lp -= sps.logsumexp(lp)
    with pytest.raises(ValueError, match="convex hull"):
        P.i_projection(lp, feats, np.array([feats[:, 0].max() - 1e-9, np.median(feats[:, 1])]))
    with pytest.raises(ValueError, match="features"):
        P.i_projection(log_p, feats[:-1], np.zeros(2))
    # under jit the core reports non-convergence instead of raising
    out = jax.jit(P.i_projection_solve)(np.full(8, -np.log(8)), octagon, c)
    assert not bool(out.converged)


def test_i_projection_from_samples_gaussian(key):
    """I-projection of N(0,1) onto {E x = m, E x^2 = m^2 + v} is N(m, v): KL and ESS against closed forms."""
    m, v, n, reps = 0.4, 0.8, 4000, 16
    c = jnp.array([m, m * m + v])
    x = jax.random.normal(key, (reps, n))
    feats = jnp.stack([x, x * x], axis=-1)
    out = jax.vmap(lambda f: P.i_projection_solve(jnp.full((n,), -np.log(n)), f, c))(feats)
    assert bool(jnp.all(out.converged))
    nf = F.Normal()
    q, p = nf.from_params(m, np.sqrt(v)), nf.from_params(0.0, 1.0)
    kl_exact = float(nf.kl(q, p))
    est = np.asarray(out.dual)
    z = (est.mean() - kl_exact) / (est.std(ddof=1) / np.sqrt(reps))
    assert abs(z) < 5, z  # 5 standard errors over replicates (SNIS bias O(1/n) is ~10x smaller)
    ess = 1 / np.sum(np.exp(2 * np.asarray(out.log_q)), axis=-1)
    ratio = ess.mean() / n
    pred = float(np.exp(-nf.renyi(q, p, 2.0)))  # ESS/n -> 1 / E_p[(q/p)^2] = exp(-D_2(q||p))
    assert abs(ratio - pred) <= 0.05 * pred  # 5%: ratio-of-means estimator at n = 4000
    one = P.i_projection_from_samples(feats[0], c)
    np.testing.assert_allclose(one.ess, ess[0], rtol=1e-10)
    np.testing.assert_allclose(np.exp(one.log_weights) @ np.asarray(feats[0]), c, atol=1e-11)


def test_tilt_infinite_lambda_is_the_argmax_limit():
    # lam = +-inf: p conditioned on the extreme reward class (ties weighted by p), variance 0
    lp = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    r = jnp.array([1.0, 3.0, 3.0, 0.0])
    hi = P.tilt(lp, r, jnp.inf)
    np.testing.assert_allclose(np.exp(hi.log_probs), [0.0, 0.4, 0.6, 0.0], atol=1e-15)  # atol: one rounding
    assert float(hi.mean) == 3.0 and float(hi.variance) == 0.0 and float(hi.log_partition) == np.inf
    lo = P.tilt(lp, r, -jnp.inf)
    np.testing.assert_allclose(np.exp(lo.log_probs), [0.0, 0.0, 0.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(float(lo.log_partition), np.log(0.4), rtol=1e-15)  # lam * 0 + log P(r = 0)
    # the finite tilt approaches it
    np.testing.assert_allclose(np.exp(P.tilt(lp, r, 60.0).log_probs), np.exp(hi.log_probs), atol=1e-25)


def test_tilt_bad_input():
    lp = jnp.log(jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="log_p must not contain NaN"):
        P.tilt(lp.at[0].set(jnp.nan), jnp.zeros(2), 1.0)
    with pytest.raises(ValueError, match="lam must not contain NaN"):
        P.tilt(lp, jnp.zeros(2), jnp.nan)
    assert np.all(np.isnan(jax.jit(P.tilt)(lp.at[0].set(jnp.nan), jnp.zeros(2), 1.0).log_probs))


def test_tilt_scalar_lam_broadcasts_over_a_batch_of_laws():
    """A scalar ``lam`` tilts every law of a ``(B, K)`` batch (under the tests' strict rank promotion, which used
    to reject the scalar's ``[..., None]`` against the batch); each row equals the unbatched tilt."""
    log_p = jnp.log(jnp.array([[0.5, 0.5], [0.2, 0.8]]))
    r = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    t = P.tilt(log_p, r, 0.7)
    for i in range(2):
        one = P.tilt(log_p[i], r[i], 0.7)
        np.testing.assert_allclose(t.log_probs[i], one.log_probs, rtol=1e-15)
        np.testing.assert_allclose(t.log_partition[i], one.log_partition, rtol=1e-15)
