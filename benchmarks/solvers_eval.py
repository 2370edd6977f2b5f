"""The solver layer against optimistix for lam_Delta (kl_rl_policy): kl_lab's Newton on lax.custom_root (what
kl_rl._policy calls) vs optimistix's Newton and Bisection on the same equation, one process (issue #23 chose
optimistix; stop 30 replaced it by the same iterations on lax.custom_root, for compile time).

Run: python benchmarks/solvers_eval.py (float64, 1e4 budgets, |V| = 64; prints times, accuracy, gradients).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from kl_lab.alignment import kl_rl
from kl_lab.projection import tilt

jax.config.update("jax_enable_x64", True)

V, B = 64, 10_000
rng = np.random.default_rng(0)
log_ref = jnp.asarray(np.log(rng.dirichlet(np.ones(V))))
rewards = jnp.asarray(rng.standard_normal(V))
kmax = float(kl_rl.max_kl_budget(log_ref, rewards))
budgets = jnp.asarray(np.linspace(1e-3, 0.95 * kmax, B))
r_shift = rewards - jnp.max(rewards)


def delta(lam, _):
    t = tilt(log_ref, r_shift, lam)
    return lam * t.mean - t.log_partition


def lam_kl_lab(b):
    return kl_rl._policy(log_ref, rewards, b, 200).lam  # the library's core (validation outside)


def bracket(b):
    spread = jnp.max(r_shift) - jnp.min(r_shift)

    def cond(s):
        return (delta(s[1], None) < b) & (s[2] < 200)

    def body(s):
        return s[1], 4 * s[1], s[2] + 1

    lo, hi, _ = jax.lax.while_loop(cond, body, (jnp.zeros(()), 1.0 / spread, 0))
    return lo, hi


def lam_optx(b, solver):
    lo, hi = bracket(b)
    sol = optx.root_find(
        lambda l, a: delta(l, a) - b,
        solver,
        0.5 * (lo + hi),
        options=dict(lower=lo, upper=hi),
        throw=False,
        max_steps=200,
    )
    return sol.value, sol.result == optx.RESULTS.successful, sol.stats["num_steps"]


f_kl_lab = jax.jit(jax.vmap(lam_kl_lab))
f_newton = jax.jit(jax.vmap(lambda b: lam_optx(b, optx.Newton(rtol=1e-13, atol=1e-13))))
f_bisect = jax.jit(jax.vmap(lambda b: lam_optx(b, optx.Bisection(rtol=1e-13, atol=1e-13))))


def timeit(f, *a, n=5):
    jax.block_until_ready(f(*a))
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(f(*a))
        ts.append(time.perf_counter() - t)
    return np.median(ts)


ref = np.asarray(f_kl_lab(budgets))
res = {}
for name, f in [("kl_lab", f_kl_lab), ("optx.Newton", f_newton), ("optx.Bisection", f_bisect)]:
    out = f(budgets)
    lam = np.asarray(out if name == "kl_lab" else out[0])
    ok = "" if name == "kl_lab" else f" converged {int(np.sum(out[1]))}/{B}, steps median {int(np.median(out[2]))}"
    kl_err = np.max(np.abs(np.asarray(jax.vmap(lambda l: delta(l, None))(jnp.asarray(lam))) - np.asarray(budgets)))
    res[name] = timeit(f, budgets)
    rel = np.max(np.abs(lam - ref) / ref)
    print(f"{name:15s} {res[name] * 1e3:8.1f} ms  max|KL-budget| {kl_err:.2e}  max|lam-kl_lab|/lam {rel:.1e}{ok}")
for name in res:
    print(f"ratio {name}/kl_lab = {res[name] / res['kl_lab']:.2f}")

# gradient d lam / d budget: kl_lab (lax.custom_root) vs optx (ImplicitAdjoint) vs finite differences
b0, h = 0.4 * kmax, 1e-6
g_kl_lab = jax.grad(lambda b: kl_rl.kl_rl_policy(log_ref, rewards, b).lam)(b0)
g_optx = jax.grad(lambda b: lam_optx(b, optx.Newton(rtol=1e-13, atol=1e-13))[0])(b0)
fd = (float(lam_kl_lab(b0 + h)) - float(lam_kl_lab(b0 - h))) / (2 * h)
print(f"dlam/dbudget kl_lab {float(g_kl_lab):.10g} optx {float(g_optx):.10g} fd {fd:.10g}")
# NaN budget under jit
print("NaN budget under jit:", jax.jit(lambda b: lam_optx(b, optx.Newton(rtol=1e-13, atol=1e-13)))(jnp.nan))

# compile time (fresh jit of each, one budget shape)
for name, mk in [
    ("kl_lab", lambda: jax.jit(jax.vmap(lam_kl_lab))),
    ("optx.Newton", lambda: jax.jit(jax.vmap(lambda b: lam_optx(b, optx.Newton(rtol=1e-13, atol=1e-13))))),
]:
    f = mk()
    t = time.perf_counter()
    f.lower(budgets[:7]).compile()
    print(f"compile {name}: {time.perf_counter() - t:.2f} s")
