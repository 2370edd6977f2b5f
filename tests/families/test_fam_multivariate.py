"""MultivariateNormal, Dirichlet and the finite (Ising) family against independent references:
numpyro's registered KL, scipy's entropies and log-densities, Gil et al.'s Gaussian Rényi closed form,
Isserlis' theorem for the Gaussian Fisher information, quadrature on the simplex, exact enumeration."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sps
import scipy.stats as st
from numpyro.distributions import kl_divergence

from kl_lab import families as F

MU_P, COV_P = np.array([0.3, -1.0]), np.array([[1.0, 0.3], [0.3, 2.0]])
MU_Q, COV_Q = np.array([0.0, 1.0]), np.array([[2.0, -0.3], [-0.3, 1.0]])
ALPHAS = (0.3, 0.5, 1.5)


def gaussian_renyi(m0, s0, m1, s1, a):
    """Gil, Alajaji & Linder (2013), Table 2: D_a(N0 || N1) with S_a = a S1 + (1-a) S0."""
    sa = a * s1 + (1 - a) * s0
    dm = m1 - m0
    quad = a / 2 * dm @ np.linalg.solve(sa, dm)
    logdet = np.linalg.slogdet(sa)[1] - (1 - a) * np.linalg.slogdet(s0)[1] - a * np.linalg.slogdet(s1)[1]
    return quad - logdet / (2 * (a - 1))


def isserlis_cov(mu, cov):
    """Cov of t(x) = (x, x x^T) for x ~ N(mu, cov), unpacked: blocks (x,x), (x, xx), (xx, xx)."""
    s, m = cov, mu
    c_x_xx = np.einsum("k,il->ikl", m, s) + np.einsum("l,ik->ikl", m, s)
    c_xx_xx = (
        np.einsum("ik,jl->ijkl", s, s)
        + np.einsum("il,jk->ijkl", s, s)
        + np.einsum("i,k,jl->ijkl", m, m, s)
        + np.einsum("i,l,jk->ijkl", m, m, s)
        + np.einsum("j,k,il->ijkl", m, m, s)
        + np.einsum("j,l,ik->ijkl", m, m, s)
    )
    return s, c_x_xx, c_xx_xx


@pytest.fixture(scope="module")
def mvn():
    fam = F.MultivariateNormal(2)
    tp = fam.from_params(jnp.asarray(MU_P), jnp.asarray(COV_P))
    tq = fam.from_params(jnp.asarray(MU_Q), jnp.asarray(COV_Q))

    def f(tp, tq):
        return {
            "kl": fam.kl(tp, tq),
            "kl_bregman": fam.kl_bregman(tp, tq),
            "renyi": jnp.stack([fam.renyi(tp, tq, a) for a in ALPHAS]),
            "bhattacharyya": fam.bhattacharyya(tp, tq),
            "entropy": fam.entropy(tp),
            "entropy_generic": fam.entropy_generic(tp),
            "mean": fam.mean(tp),
            "mean_autodiff": fam.mean_autodiff(tp),
            "fisher": fam.fisher_autodiff(tp),
            "inv": fam.natural_from_mean(fam.mean(tp)),
            "inv_newton": fam.natural_from_mean_newton(fam.mean(tp)),
            "grad_kl": jax.grad(lambda a, b: fam.kl(a, b), argnums=(0, 1))(tp, tq),
        }

    return fam, tp, tq, jax.jit(f)(tp, tq)


def test_mvn_packing(mvn, key):
    fam, tp, tq, out = mvn
    assert fam.dim == 5
    h, m = fam.unpack(tp)
    lam = np.linalg.inv(COV_P)
    np.testing.assert_allclose(m, -lam / 2, atol=1e-14)
    np.testing.assert_allclose(h, lam @ MU_P, atol=1e-14)
    np.testing.assert_allclose(fam.pack(h, m), tp, atol=0)
    mu, cov = fam.to_params(tp)
    np.testing.assert_allclose(mu, MU_P, atol=1e-14)
    np.testing.assert_allclose(cov, COV_P, atol=1e-14)
    x = jax.random.normal(key, (7, 2))
    lhs = fam.sufficient_stats(x) @ tp
    rhs = x @ np.asarray(h) + np.einsum("ni,ij,nj->n", x, np.asarray(m), x)
    np.testing.assert_allclose(lhs, rhs, atol=1e-13)  # <theta, t(x)> = <h, x> + x^T M x


def test_mvn_against_references(mvn):
    fam, tp, tq, out = mvn
    ref_kl = kl_divergence(fam.to_numpyro(tp), fam.to_numpyro(tq))
    # 1e-10: closed forms in float64 with condition numbers < 10
    np.testing.assert_allclose(out["kl"], ref_kl, atol=1e-10)
    np.testing.assert_allclose(out["kl_bregman"], ref_kl, atol=1e-10)
    ren = [gaussian_renyi(MU_P, COV_P, MU_Q, COV_Q, a) for a in ALPHAS]
    np.testing.assert_allclose(out["renyi"], ren, atol=1e-10)
    # alpha = 2: S_a = 2 S_q - S_p is indefinite, so int p^2 q^-1 diverges and the closed form above is void
    assert np.min(np.linalg.eigvalsh(2 * COV_Q - COV_P)) < 0
    assert float(fam.renyi(tp, tq, 2.0)) == np.inf
    np.testing.assert_allclose(out["bhattacharyya"], gaussian_renyi(MU_P, COV_P, MU_Q, COV_Q, 0.5) / 2, atol=1e-10)
    ent = st.multivariate_normal(MU_P, COV_P).entropy()
    np.testing.assert_allclose(out["entropy"], ent, atol=1e-10)
    np.testing.assert_allclose(out["entropy_generic"], ent, atol=1e-10)
    np.testing.assert_allclose(out["mean"], fam.pack_stats(MU_P, COV_P + np.outer(MU_P, MU_P)), atol=1e-12)
    np.testing.assert_allclose(out["mean_autodiff"], out["mean"], atol=1e-12)
    # Fisher = Cov t(X) from Isserlis' theorem, packed with the c_ij = (1, 2) factors
    s, cxxx, cxxxx = isserlis_cov(MU_P, COV_P)
    iu, c = np.triu_indices(2), np.array([1.0, 2.0, 1.0])
    g = np.zeros((5, 5))
    g[:2, :2] = s
    g[:2, 2:] = cxxx[:, iu[0], iu[1]] * c
    g[2:, :2] = g[:2, 2:].T
    g[2:, 2:] = cxxxx[iu[0], iu[1]][:, iu[0], iu[1]] * np.outer(c, c)
    np.testing.assert_allclose(out["fisher"], g, atol=1e-11)
    for k in ("inv", "inv_newton"):
        assert bool(out[k].converged)
        np.testing.assert_allclose(out[k].theta, tp, atol=1e-9)  # Newton tolerance / smallest Fisher eigenvalue
    assert all(np.all(np.isfinite(gr)) for gr in out["grad_kl"])
    # MVN(1) reduces to the quadrature-tested Normal member
    n1, nn = F.MultivariateNormal(1), F.Normal()
    a, b = nn.from_params(0.3, 1.2), nn.from_params(-0.5, 0.7)
    np.testing.assert_allclose(n1.renyi(a, b, 2.0), nn.renyi(a, b, 2.0), atol=1e-13)


def test_mvn_sampling_and_log_prob(mvn, key):
    fam, tp, tq, out = mvn
    n = 20000
    x = fam.sample(key, tp, (n,))
    assert x.shape == (n, 2)
    t = np.asarray(fam.sufficient_stats(x))
    z = (t.mean(0) - np.asarray(out["mean"])) / np.sqrt(np.diag(out["fisher"]) / n)
    assert np.all(np.abs(z) < 5), z  # 5 standard errors
    np.testing.assert_allclose(fam.log_prob(x[:20], tp), st.multivariate_normal(MU_P, COV_P).logpdf(x[:20]), atol=1e-10)
    with jax.numpy_rank_promotion("allow"):  # numpyro's MultivariateNormal broadcasts (n, d) against (d,)
        ref = fam.to_numpyro(tp).log_prob(x[:20])
    np.testing.assert_allclose(fam.log_prob(x[:20], tp), ref, atol=1e-10)
    bad = fam.pack(jnp.zeros(2), jnp.eye(2))  # M = +I: not negative definite
    assert not bool(fam.in_domain(bad))
    with pytest.raises(ValueError, match="natural parameter space"):
        fam.entropy(bad)
    assert float(fam.log_partition(bad)) == np.inf


def test_dirichlet(key):
    fam = F.Dirichlet(3)
    a, b = np.array([2.5, 1.7, 3.0]), np.array([1.8, 2.4, 2.0])
    tp, tq = jnp.asarray(a - 1), jnp.asarray(b - 1)

    def f(tp, tq):
        return (
            fam.kl(tp, tq),
            fam.renyi(tp, tq, 0.5),
            fam.renyi(tp, tq, 2.0),
            fam.entropy(tp),
            fam.mean(tp),
            fam.fisher(tp),
            fam.natural_from_mean(fam.mean(tp)),
        )

    kl, r05, r2, ent, mean, fisher, inv = jax.jit(f)(tp, tq)
    np.testing.assert_allclose(kl, kl_divergence(fam.to_numpyro(tp), fam.to_numpyro(tq)), atol=1e-10)
    np.testing.assert_allclose(ent, st.dirichlet(a).entropy(), atol=1e-10)

    def log_dir(x, conc):  # numpy Dirichlet log-density (scipy's logpdf validates per call: too slow here)
        return sps.gammaln(conc.sum()) - sps.gammaln(conc).sum() + np.sum((conc - 1) * np.log(x))

    def renyi_quad(alpha):
        def g(x2, x1):
            x = np.array([x1, x2, 1 - x1 - x2])
            return np.exp(alpha * log_dir(x, a) + (1 - alpha) * log_dir(x, b))

        val = si.dblquad(g, 0, 1, 0, lambda x1: 1 - x1, epsabs=1e-13, epsrel=1e-12)[0]
        return np.log(val) / (alpha - 1)

    # 1e-9: two-dimensional adaptive quadrature asked for 1e-12 relative
    np.testing.assert_allclose([r05, r2], [renyi_quad(0.5), renyi_quad(2.0)], atol=1e-9)
    np.testing.assert_allclose(mean, sps.digamma(a) - sps.digamma(a.sum()), atol=1e-13)
    assert bool(inv.converged)
    np.testing.assert_allclose(inv.theta, tp, atol=1e-9)
    x = fam.sample(key, tp, (20000,))
    t = np.asarray(fam.sufficient_stats(x))
    z = (t.mean(0) - np.asarray(mean)) / np.sqrt(np.diag(fisher) / 20000)
    assert np.all(np.abs(z) < 5), z  # 5 standard errors
    np.testing.assert_allclose(fam.log_prob(x[:10], tp), st.dirichlet(a).logpdf(np.asarray(x[:10]).T), atol=1e-9)


@pytest.mark.parametrize("homogeneous", [True, False])
def test_ising_against_enumeration(homogeneous, key):
    fam = F.ising_grid(3, 3, homogeneous=homogeneous)
    assert fam.size == 512 and fam.dim == (2 if homogeneous else 21)
    rng = np.random.default_rng(3)
    tp, tq = rng.normal(scale=0.3, size=(2, fam.dim))
    spins = fam.support_points
    edges = F.grid_edges(3, 3)
    stats = (
        np.stack([spins.sum(1), (spins[:, edges[:, 0]] * spins[:, edges[:, 1]]).sum(1)], 1)
        if homogeneous
        else np.concatenate([spins, spins[:, edges[:, 0]] * spins[:, edges[:, 1]]], 1)
    )
    lp, lq = sps.log_softmax(stats @ tp), sps.log_softmax(stats @ tq)
    p = np.exp(lp)
    tp_, tq_ = jnp.asarray(tp), jnp.asarray(tq)

    def f(tp, tq):
        return (
            fam.kl(tp, tq),
            fam.renyi(tp, tq, 2.0),
            fam.entropy(tp),
            fam.mean(tp),
            fam.fisher(tp),
            fam.natural_from_mean(fam.mean(tp)),
            fam.log_probs(tp),
        )

    kl, r2, ent, mean, fisher, inv, log_probs = jax.jit(f)(tp_, tq_)
    # 1e-10: sums of 512 float64 terms
    np.testing.assert_allclose(kl, np.sum(p * (lp - lq)), atol=1e-10)
    np.testing.assert_allclose(r2, sps.logsumexp(2 * lp - lq), atol=1e-10)
    np.testing.assert_allclose(ent, -np.sum(p * lp), atol=1e-10)
    np.testing.assert_allclose(mean, p @ stats, atol=1e-10)
    c = stats - p @ stats
    np.testing.assert_allclose(fisher, (c * p[:, None]).T @ c, atol=1e-10)
    np.testing.assert_allclose(log_probs, lp, atol=1e-12)
    assert bool(inv.converged)
    np.testing.assert_allclose(inv.theta, tp, atol=1e-8)  # Newton tolerance / smallest Fisher eigenvalue (~0.1)
    if homogeneous:
        k3 = np.einsum("n,ni,nj,nk->ijk", p, c, c, c)
        np.testing.assert_allclose(fam.third_cumulant(tp_), k3, atol=1e-9)
        np.testing.assert_allclose(fam.fisher_autodiff(tp_), fisher, atol=1e-10)
        x = fam.sample(key, tp_, (20000,))
        assert x.shape == (20000, 9)
        t = np.asarray(fam.sufficient_stats(x))
        z = (t.mean(0) - np.asarray(mean)) / np.sqrt(np.diag(fisher) / 20000)
        assert np.all(np.abs(z) < 5), z  # 5 standard errors
        np.testing.assert_allclose(fam.log_prob(jnp.asarray(spins[:5]), tp_), lp[:5], atol=1e-12)
        np.testing.assert_allclose(fam.to_numpyro(tp_).log_prob(jnp.arange(5)), lp[:5], atol=1e-12)
