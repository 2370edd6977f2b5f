"""Regression: XLA:CPU (jaxlib 0.10.2) deadlocks intermittently when one compiled program holds two
independent LAPACK calls; ``import kl_lab`` turns off the scheduler that runs them concurrently.

Without the flag the program below hung on its second call in every process tried on the project's
2-core machine (9 of 9); a hang shows up here as the subprocess timeout (about 10x its normal time)."""

import os
import subprocess
import sys
import textwrap

import kl_lab

TWO_LAPACK_CALLS = textwrap.dedent(
    """
    import kl_lab  # first: it sets XLA_FLAGS before the CPU backend starts
    import os, numpy as np, jax, jax.numpy as jnp
    rng = np.random.default_rng(1)
    b, d = 10_000, 32
    w = rng.standard_normal((2, b, d, d)).astype(np.float32) / np.sqrt(d)
    c = jnp.asarray(w @ np.swapaxes(w, -1, -2) + 0.5 * np.eye(d, dtype=np.float32))
    x = jnp.asarray(rng.standard_normal((2, b, d, 4)).astype(np.float32))

    @jax.jit
    def f(c, x):
        l0, l1 = jnp.linalg.cholesky(c[0]), jnp.linalg.cholesky(c[1])
        s0 = jax.scipy.linalg.solve_triangular(l0, x[0], lower=True)
        s1 = jax.scipy.linalg.solve_triangular(l1, x[1], lower=True)
        return jnp.sum(s0**2) + jnp.sum(s1**2)

    for i in range(4):
        jax.block_until_ready(f(c, x + i))
    print("done", os.environ["XLA_FLAGS"])
    """
)


def _run(code, env_extra=None, timeout=180):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "KL_LAB_KEEP_XLA_FLAGS")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def test_two_independent_lapack_calls_do_not_hang():
    out = _run(TWO_LAPACK_CALLS)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
    assert kl_lab.XLA_CPU_SCHEDULER_FLAG in out.stdout


def test_user_flags_are_kept_and_opt_out_is_honoured():
    show = "import os, kl_lab; print(repr(os.environ.get('XLA_FLAGS')))"
    kept = _run(show, {"XLA_FLAGS": "--xla_cpu_use_xnnpack=false"})
    assert kept.stdout.strip() == repr(f"--xla_cpu_use_xnnpack=false {kl_lab.XLA_CPU_SCHEDULER_FLAG}")
    users_choice = _run(show, {"XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true"})
    assert users_choice.stdout.strip() == repr("--xla_cpu_enable_concurrency_optimized_scheduler=true")
    opted_out = _run(show, {"KL_LAB_KEEP_XLA_FLAGS": "1"})
    assert opted_out.stdout.strip() == "None"
