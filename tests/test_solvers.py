"""kl_lab.solvers against scipy.optimize.brentq, its implicit gradients against finite differences and the
implicit function theorem written out, and its edge behaviour (NaN input, no bracket, the root at ``lower``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from kl_lab import solvers


def log_mgf_slope(s, args):
    """Lambda'(s) - x for a discrete law: increasing in s (the Cramer equation of the rate function)."""
    log_p, r, x = args
    w = jax.nn.softmax(log_p + s * r)
    return jnp.sum(w * r) - x


LAW = (jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([-1.0, 0.5, 2.0]))


@pytest.mark.parametrize("x", [0.2, 1.0, 1.9, 1.999])
def test_increasing_root_matches_brentq(x):
    args = (*LAW, jnp.asarray(x))
    res = solvers.increasing_root(log_mgf_slope, args)
    ref = optimize.brentq(lambda s: float(log_mgf_slope(s, args)), 0.0, 1e3, xtol=1e-15, rtol=1e-15)
    assert bool(res.converged)
    # tolerance: 16 eps relative Cauchy termination of Newton, and brentq's own 1e-15
    np.testing.assert_allclose(float(res.value), ref, rtol=1e-12)
    assert abs(float(res.residual)) < 1e-12


def test_bracketed_root_matches_brentq_either_sign_change():
    for f in (lambda y, a: jnp.cos(y) - a, lambda y, a: a - jnp.cos(y)):
        res = solvers.bracketed_root(f, 0.3, lower=0.0, upper=3.0)
        np.testing.assert_allclose(float(res.value), np.arccos(0.3), rtol=1e-13)  # bisection to 16 eps
        assert bool(res.converged)


def test_implicit_gradient_matches_finite_differences_and_the_implicit_function_theorem():
    def root(x, r2):
        log_p, r = LAW
        return solvers.increasing_root(log_mgf_slope, (log_p, r.at[2].set(r2), x)).value

    x, r2 = 1.2, 2.0
    gx, gr = jax.grad(root, argnums=(0, 1))(x, r2)
    h = 1e-6  # central differences: error O(h^2) ~ 1e-12 relative, rounding ~ eps/h ~ 1e-10
    fx = (root(x + h, r2) - root(x - h, r2)) / (2 * h)
    fr = (root(x, r2 + h) - root(x, r2 - h)) / (2 * h)
    np.testing.assert_allclose([float(gx), float(gr)], [float(fx), float(fr)], rtol=1e-7)
    # implicit function theorem: ds/dx = 1 / Lambda''(s)
    s = root(x, r2)
    slope = jax.grad(lambda t: log_mgf_slope(t, (*LAW, 0.0)))(s)
    np.testing.assert_allclose(float(gx), 1.0 / float(slope), rtol=1e-10)


def test_vmap_over_the_equation():
    xs = jnp.linspace(0.1, 1.9, 7)  # Lambda'(0) = 0.05: every x here has an interior root
    out = jax.vmap(lambda x: solvers.increasing_root(log_mgf_slope, (*LAW, x)))(xs)
    for x, s in zip(np.asarray(xs), np.asarray(out.value)):
        args = (*LAW, jnp.asarray(x))
        assert abs(float(log_mgf_slope(s, args))) < 1e-12
    assert bool(jnp.all(out.converged))


def test_root_at_lower_and_nan_and_no_bracket():
    at_lower = solvers.increasing_root(log_mgf_slope, (*LAW, -0.5))  # Lambda'(0) = 0.05 > -0.5: root below 0
    assert float(at_lower.value) == 0.0 and bool(at_lower.converged)
    nan = jax.jit(lambda x: solvers.increasing_root(log_mgf_slope, (*LAW, x)))(jnp.nan)
    assert np.isnan(float(nan.value)) and not bool(nan.converged)
    # x above max r: Lambda'(s) < 2 < x for every s, so no bracket exists
    none = solvers.increasing_root(log_mgf_slope, (*LAW, 2.5), max_steps=40)
    assert not bool(none.converged)
    nan_b = jax.jit(lambda a: solvers.bracketed_root(lambda y, a: jnp.cos(y) - a, a, lower=0.0, upper=3.0))(jnp.nan)
    assert np.isnan(float(nan_b.value)) and not bool(nan_b.converged)


def test_bracket_without_sign_change_is_not_converged_under_jit():
    res = jax.jit(lambda a: solvers.bracketed_root(lambda y, a: jnp.cos(y) - a, a, lower=0.0, upper=3.0))(2.0)
    assert np.isnan(float(res.value)) and not bool(res.converged)


def test_exact_zero_at_an_end_is_the_root():
    res = solvers.bracketed_root(lambda y, a: y * (y - 2.0), lower=0.0, upper=1.0)
    assert float(res.value) == 0.0 and bool(res.converged)
    res = solvers.bracketed_root(lambda y, a: y * (y - 2.0), lower=1.0, upper=2.0)
    assert float(res.value) == 2.0 and bool(res.converged)


def test_fixed_point_of_cos_and_its_implicit_gradient():
    # the Dottie number, to 30 digits (mpmath findroot of cos(y) - y)
    import mpmath

    dottie = float(mpmath.findroot(lambda y: mpmath.cos(y) - y, 0.7))
    res = solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), 1.0)
    np.testing.assert_allclose(float(res.value), dottie, rtol=1e-13)  # 16 eps Cauchy stop, factor sin(y*) ~ 0.67
    assert bool(res.converged) and float(res.residual) < 1e-13
    # y* = cos(a y*): dy*/da = -y* sin(a y*) / (1 + a sin(a y*))
    g = jax.grad(lambda a: solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), a).value)(1.0)
    np.testing.assert_allclose(float(g), -dottie * np.sin(dottie) / (1 + np.sin(dottie)), rtol=1e-10)
    nan = jax.jit(lambda a: solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), a))(jnp.nan)
    assert np.isnan(float(nan.value)) and not bool(nan.converged)


def gamma_dual(theta, eta):
    """psi(theta) - <theta, eta> for the Gamma family, t(x) = (log x, x), theta = (k - 1, -rate)."""
    k, rate = theta[0] + 1.0, -theta[1]
    return jax.scipy.special.gammaln(k) - k * jnp.log(rate) - jnp.dot(theta, eta)


def gamma_domain(theta):
    return (theta[0] > -1.0) & (theta[1] < 0.0)


def test_newton_minimise_matches_scipy_on_the_gamma_dual():
    # eta = (E log X, E X) of Gamma(k=3, rate=2): digamma(3) - log 2, 3/2
    from scipy import special

    eta = jnp.array([special.digamma(3.0) - np.log(2.0), 1.5])
    res = solvers.newton_minimise(gamma_dual, jnp.array([0.0, -1.0]), eta, gtol=1e-12, in_domain=gamma_domain)
    ref = optimize.minimize(
        lambda t: float(gamma_dual(jnp.asarray(t), eta)) if t[0] > -1 and t[1] < 0 else np.inf,
        np.array([0.0, -1.0]),
        method="Nelder-Mead",
        options=dict(xatol=1e-10, fatol=1e-15, maxiter=20_000),
    )
    assert bool(res.converged) and float(res.residual) <= 1e-12
    np.testing.assert_allclose(np.asarray(res.value), [2.0, -2.0], rtol=1e-11)  # the generating (k-1, -rate)
    np.testing.assert_allclose(np.asarray(res.value), ref.x, atol=1e-6)  # Nelder-Mead's xatol 1e-10, flat valley


def test_newton_minimise_matches_scipy_trust_exact_on_a_logsumexp_dual():
    # the I-projection dual: min_lam logsumexp(log p + (f - c) lam), 3 atoms, 2 features
    log_p = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    f = jnp.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    c = jnp.array([1.2, 0.1])

    def dual(lam, c):
        return jax.scipy.special.logsumexp(log_p + (f - c[None, :]) @ lam)

    res = solvers.newton_minimise(dual, jnp.zeros(2), c, gtol=1e-13)
    ref = optimize.minimize(
        lambda x: float(dual(jnp.asarray(x), c)),
        np.zeros(2),
        jac=lambda x: np.asarray(jax.grad(dual)(jnp.asarray(x), c)),
        hess=lambda x: np.asarray(jax.hessian(dual)(jnp.asarray(x), c)),
        method="trust-exact",
        options=dict(gtol=1e-13),
    )
    assert bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.value), ref.x, rtol=1e-10)  # both stop at |grad| <= 1e-13, H ~ O(1)


def test_newton_minimise_implicit_gradient_matches_finite_differences():
    from scipy import special

    def theta(eta):
        res = solvers.newton_minimise(gamma_dual, jnp.array([0.0, -1.0]), eta, gtol=1e-13, in_domain=gamma_domain)
        return res.value

    eta = jnp.array([special.digamma(3.0) - np.log(2.0), 1.5])
    jac = jax.jacobian(theta)(eta)
    h = 1e-6  # central differences: truncation O(h^2), rounding ~ gtol / h ~ 1e-7 relative
    fd = np.stack([(theta(eta.at[i].add(h)) - theta(eta.at[i].add(-h))) / (2 * h) for i in range(2)], axis=1)
    np.testing.assert_allclose(np.asarray(jac), fd, rtol=1e-6)
    # implicit function theorem: d theta / d eta = Fisher(theta)^{-1}
    fisher = jax.hessian(lambda t: gamma_dual(t, jnp.zeros(2)))(theta(eta))
    np.testing.assert_allclose(np.asarray(jac), np.linalg.inv(np.asarray(fisher)), rtol=1e-9)


def test_newton_minimise_edges_nan_and_no_minimiser():
    nan = jax.jit(
        lambda eta: solvers.newton_minimise(gamma_dual, jnp.array([0.0, -1.0]), eta, gtol=1e-12, in_domain=gamma_domain)
    )(jnp.array([jnp.nan, 1.5]))
    assert np.all(np.isnan(np.asarray(nan.value))) and not bool(nan.converged)
    # E log X > log E X is impossible (Jensen): no minimiser; the iterates run to the domain's edge
    none = solvers.newton_minimise(
        gamma_dual, jnp.array([0.0, -1.0]), jnp.array([1.0, 1.0]), gtol=1e-12, in_domain=gamma_domain, max_steps=60
    )
    assert not bool(none.converged) and float(none.residual) > 1e-3
    # unbounded below: exp(y) + y has no minimiser
    runaway = solvers.newton_minimise(lambda y, a: jnp.sum(jnp.exp(y) + y), jnp.zeros(1), gtol=1e-12, max_steps=50)
    assert not bool(runaway.converged)


def test_bracketed_root_with_a_nan_bracket_end_under_jit():
    # a bracket computed from NaN data must not reach optimistix's in-jit bracket check
    res = jax.jit(lambda lo: solvers.bracketed_root(lambda y, a: jnp.cos(y), lower=lo, upper=3.0))(jnp.nan)
    assert np.isnan(float(res.value)) and not bool(res.converged)


def test_first_crossing_matches_brentq_ties_left_and_clips():
    # smooth: the first zero of the increasing y^3 + y - a, against brentq
    res = solvers.first_crossing(lambda y, a: y**3 + y - a, 3.0, lower=-10.0, upper=10.0)
    ref = optimize.brentq(lambda y: y**3 + y - 3.0, -10, 10, xtol=1e-15, rtol=1e-15)
    np.testing.assert_allclose(float(res.value), ref, rtol=1e-14)  # 200 halvings: adjacent floats
    assert bool(res.converged)
    # flat stretch at 0 on [1, 2]: the left end (the generalised inverse)
    flat = solvers.first_crossing(
        lambda y, a: jnp.minimum(y - 1.0, 0.0) + jnp.maximum(y - 2.0, 0.0), lower=-3.0, upper=5.0
    )
    np.testing.assert_allclose(float(flat.value), 1.0, atol=1e-15)
    # clipping: no crossing below the top -> upper, converged False; already reached at lower -> lower
    top = solvers.first_crossing(lambda y, a: y - 9.0, lower=0.0, upper=4.0)
    assert float(top.value) == 4.0 and not bool(top.converged)
    low = solvers.first_crossing(lambda y, a: y + 9.0, lower=0.0, upper=4.0)
    assert float(low.value) == 0.0 and bool(low.converged)
    nan = jax.jit(lambda a: solvers.first_crossing(lambda y, a: y - a, a, lower=0.0, upper=4.0))(jnp.nan)
    assert np.isnan(float(nan.value)) and not bool(nan.converged)


def test_newton_minimise_nonconvex_fallback_finds_the_local_minimiser():
    # y^4 - 3 y^2 + y: concave at the start y = 0 (H = -6): gradient steps of 1/2, then Newton in the basin
    f = lambda y, a: jnp.sum(y**4 - 3 * y**2 + y)  # noqa: E731
    res = solvers.newton_minimise(f, jnp.zeros(1), gtol=1e-12, nonconvex=True, max_step=1.0)
    ref = optimize.minimize_scalar(
        lambda y: y**4 - 3 * y**2 + y, bounds=(-3, 0), method="bounded", options=dict(xatol=1e-12)
    )
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.value[0]), ref.x, rtol=1e-8)  # bounded Brent stops at xatol 1e-12 ~ 1e-11 rel


def _entropic(lp, c):
    """E_pi c + H(pi): concave on the simplex, maximised by softmax(c)."""
    return jnp.exp(lp) @ c - jnp.exp(lp) @ lp


def _entropic_ascent(lp, c):
    """dJ/dpi = c - log pi - 1, up to the constant."""
    return c - lp


def _project_to_simplex(v):
    """Euclidean projection onto the simplex by sorting (Held, Wolfe & Crowder 1974; Duchi et al. 2008, Fig. 1)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    rho = np.nonzero(u - (css - 1) / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - (css[rho] - 1) / (rho + 1), 0.0)


def _entropic_optimum(c, **kw):
    return solvers.simplex_mirror_ascent(_entropic, jnp.zeros(c.shape[-1]), c, ascent=_entropic_ascent, **kw)


def test_simplex_mirror_ascent_interior_optimum_and_its_implicit_gradient():
    c = jnp.array([0.3, -1.2, 2.0, 0.0])
    res = _entropic_optimum(c, tol=1e-13)
    assert bool(res.converged) and 0 <= float(res.residual) <= 1e-13
    # the gap alone bounds |pi - pi*|_1 by sqrt(2 gap) ~ 4e-7 (J is 1-strongly concave in l1: Pinsker); the
    # Newton polish converges quadratically, so pi is exact to rounding (a few ulp of the largest pi)
    np.testing.assert_allclose(np.exp(res.value), np.asarray(jax.nn.softmax(c)), atol=1e-14)
    jac = jax.jacobian(lambda c: jnp.exp(_entropic_optimum(c, tol=1e-13).value))(c)
    p = np.asarray(jax.nn.softmax(c))
    # implicit gradient at the polished optimum: exact up to the rounding of the pseudo-inverse solve (cond ~ 1/min p)
    np.testing.assert_allclose(np.asarray(jac), np.diag(p) - np.outer(p, p), atol=1e-10)  # d softmax / dc


def test_simplex_mirror_ascent_boundary_optimum_is_certified_by_the_gap():
    # c . pi - |pi|^2 / 2 is maximised by the Euclidean projection of c onto the simplex: two zero coordinates
    c = np.array([2.0, 0.5, -1.0, 1.8])
    want = _project_to_simplex(c)
    assert np.sum(want == 0) == 2
    res = solvers.simplex_mirror_ascent(
        lambda lp, c: jnp.exp(lp) @ c - 0.5 * jnp.sum(jnp.exp(2 * lp)),
        jnp.zeros(4),
        jnp.asarray(c),
        ascent=lambda lp, c: c - jnp.exp(lp),  # dJ/dpi in closed form (finite where pi underflows to 0)
        tol=1e-10,
    )
    assert bool(res.converged)
    # the certificate: J is 1-strongly concave in the l2 norm, so |pi - pi*|_2 <= sqrt(2 gap)
    # (+ 1e-15: rounding of pi near 1; the Newton polish takes the gap to ~0, so this pins pi to rounding)
    assert np.linalg.norm(np.exp(res.value) - want) <= np.sqrt(2 * float(res.residual)) + 1e-15


def test_simplex_mirror_ascent_nan_and_too_few_steps():
    nan = jax.jit(lambda c: _entropic_optimum(c, tol=1e-12))(jnp.array([0.0, jnp.nan, 1.0]))
    assert np.all(np.isnan(np.asarray(nan.value))) and not bool(nan.converged)
    assert int(nan.iterations) <= 1  # a NaN gap stops at once instead of running max_steps
    short = _entropic_optimum(jnp.array([0.0, 5.0, 1.0]), tol=1e-12, max_steps=1, polish_steps=0)
    assert not bool(short.converged) and float(short.residual) > 1e-12 and int(short.iterations) == 1


def test_simplex_newton_polish_does_the_converging():
    """Three mirror steps leave a Frank-Wolfe gap of 2e-2 on this problem (20,000 leave 1.7e-9, measured); the
    Newton polish must take it below 1e-13 (quadratic convergence: eight kept steps measured). A polish step in the
    wrong direction raises the gap, is not kept, and leaves the solve unconverged: this test fails then."""
    c = jnp.array([0.4, 0.1, -0.3, 0.35])
    J = lambda lp, c: jnp.exp(lp) @ c - 0.05 * jnp.exp(lp) @ lp - 0.5 * jnp.sum(jnp.exp(2 * lp))  # noqa: E731
    asc = lambda lp, c: c - 0.05 * (lp + 1) - jnp.exp(lp)  # noqa: E731  dJ/dpi up to a constant
    kw = dict(ascent=asc, tol=1e-13, max_steps=3)
    mirror_only = solvers.simplex_mirror_ascent(J, jnp.zeros(4), c, polish_steps=0, **kw)
    assert not bool(mirror_only.converged) and float(mirror_only.residual) > 1e-3
    polished = solvers.simplex_mirror_ascent(J, jnp.zeros(4), c, **kw)
    assert bool(polished.converged) and float(polished.residual) <= 1e-13 and int(polished.iterations) > 4


def test_same_iterations_and_values_as_optimistix():
    """The solvers were on optimistix until stop 30 and keep its iterations and stopping rules (module docstring):
    the same Newton and fixed-point sequences (equal step counts), the same bisection root, the same implicit
    gradients. optimistix is installed with the test extra only."""
    optx = pytest.importorskip("optimistix")
    args = (*LAW, jnp.asarray(1.9))
    # Newton clipped to a bracket: increasing_root's bracket, quadrupled from [0, 1] while g(upper) < 0, then
    # optimistix's Newton from the same midpoint with the same clipping
    ours = solvers.increasing_root(log_mgf_slope, args)
    lo, hi, k = 0.0, 1.0, 0
    while float(log_mgf_slope(hi, args)) < 0:
        lo, hi, k = hi, 4 * hi, k + 1
    assert k >= 1  # the root lies beyond the first guess: the quadrupling is exercised too
    eps16 = 16 * float(jnp.finfo(jnp.float64).eps)
    ref = optx.root_find(
        log_mgf_slope, optx.Newton(rtol=eps16, atol=eps16), 0.5 * (lo + hi), args, options=dict(lower=lo, upper=hi),
        max_steps=200, throw=False,
    )  # fmt: skip
    assert int(ours.iterations) == k + int(ref.stats["num_steps"])  # the quadruplings + the same Newton steps
    assert float(ours.value) == float(ref.value)  # the same floating-point sequence
    # bisection: the same root to the common tolerance (optimistix also asks |g| < atol, so it may halve longer)
    tol = 1e-12
    ours = solvers.bracketed_root(lambda y, a: jnp.cos(y) - a, 0.3, lower=0.0, upper=3.0, rtol=0.0, atol=tol)
    ref = optx.root_find(
        lambda y, a: jnp.cos(y) - a, optx.Bisection(rtol=0.0, atol=tol), 1.5, 0.3,
        options=dict(lower=0.0, upper=3.0), max_steps=400, throw=False,
    )  # fmt: skip
    assert abs(float(ours.value) - float(ref.value)) <= tol and bool(ours.converged)
    # fixed point: the same iterations, value and implicit gradient
    cos_a = lambda y, a: jnp.cos(a * y)  # noqa: E731
    ours = solvers.fixed_point(cos_a, jnp.asarray([1.0, 0.5]), 0.9, atol=1e-12, rtol=0.0)
    ref = optx.fixed_point(cos_a, optx.FixedPointIteration(rtol=0.0, atol=1e-12), jnp.asarray([1.0, 0.5]), 0.9)
    assert int(ours.iterations) == int(ref.stats["num_steps"])
    np.testing.assert_array_equal(np.asarray(ours.value), np.asarray(ref.value))
    g_ours = jax.grad(lambda a: solvers.fixed_point(cos_a, jnp.asarray([1.0, 0.5]), a, atol=1e-12, rtol=0.0).value[0])
    g_ref = jax.grad(
        lambda a: optx.fixed_point(
            cos_a, optx.FixedPointIteration(rtol=0.0, atol=1e-12), jnp.asarray([1.0, 0.5]), a
        ).value[0]
    )
    # both solve (I - dT/dy) x = dT/da at the same (bitwise-equal) point, by different LU routines: they differ by
    # ~cond * eps ~ 1e-16 (cond = 1: both coordinates solve the same scalar equation); 1e-12 is a loose margin
    np.testing.assert_allclose(float(g_ours(0.9)), float(g_ref(0.9)), rtol=1e-12)
