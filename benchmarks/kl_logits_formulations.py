"""Evidence for issue 19: kl_from_logits formulations and the cost of each reduction pass on XLA:CPU.

``python -m benchmarks.kl_logits_formulations`` times, at float32 (1024, 32768), interleaved (median and
minimum of 7 rounds), the library kernel, rewrites that compute ``exp(a)`` once for both ``S_a`` and ``C``,
the single passes the kernel is made of, and the two floors. Results and conclusions: the docstring of
``kl_lab.divergences.fused_kl._kl_value``. Not a bench row (the runner only reads ``bench_*`` files).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.divergences import fused_kl

ROWS, WIDTH = 1024, 32768
CLAMP = -1e30


def _final(sa, sb, c):
    return c / sa - jnp.log(sa) + jnp.log(sb)


def _shifted(a, b):
    ma, mb = fused_kl._row_maxima(a, b)
    return jnp.maximum(a - ma, CLAMP), b - mb


def no_barrier(a, b):  # S_a, S_b, C left to XLA: one multi-output reduction
    ah, bh = _shifted(a, b)
    ea = jnp.exp(ah)
    return _final(jnp.sum(ea, -1), jnp.sum(jnp.exp(bh), -1), jnp.sum(ea * (ah - bh), -1))


def complex_pair(a, b):  # S_a + i C as one single-output complex reduction
    ah, bh = _shifted(a, b)
    ea = jnp.exp(ah)
    z = jnp.sum(jax.lax.complex(ea, ea * (ah - bh)), -1)
    return _final(jnp.real(z), jnp.sum(jnp.exp(bh), -1), jnp.imag(z))


def materialised(a, b):  # e^{a - m_a} written once, read by S_a and C
    ah, bh = _shifted(a, b)
    ea = jax.lax.optimization_barrier(jnp.exp(ah))
    return _final(jnp.sum(ea, -1), jnp.sum(jnp.exp(bh), -1), jnp.sum(ea * (ah - bh), -1))


def stacked(axis):  # the three sums as one single-output reduction of a stacked array
    def f(a, b):
        ah, bh = _shifted(a, b)
        ea = jnp.exp(ah)
        t = jnp.stack([ea, jnp.exp(bh), ea * (ah - bh)], axis)
        s = jnp.sum(t, axis=-2 if axis == -1 else -1)
        s = s if axis == 0 else s.T
        return _final(s[0], s[1], s[2])

    return f


def dot_cross(a, b):  # C as a batched dot product
    ah, bh = _shifted(a, b)
    ea = jnp.exp(ah)
    return _final(jnp.sum(ea, -1), jnp.sum(jnp.exp(bh), -1), jnp.einsum("ij,ij->i", ea, ah - bh))


def shift_out(a, b):  # C = sum e^{a-m_a} (a - b) - (m_a - m_b) S_a: cancels at large offsets
    ma, mb = fused_kl._row_maxima(a, b)
    ea = jnp.exp(a - ma)
    c = jnp.sum(ea * (a - b), -1) - (ma - mb)[..., 0] * jnp.sum(ea, -1)
    return _final(jnp.sum(ea, -1), jnp.sum(jnp.exp(b - mb), -1), c)


def _passes():  # each of the kernel's reductions alone, on (a, b, m_a, m_b)
    return {
        "pass: both row maxima": lambda a, b, ma, mb: fused_kl._row_maxima(a, b),
        "pass: S_a": lambda a, b, ma, mb: jnp.sum(jnp.exp(a - ma), -1),
        "pass: S_b": lambda a, b, ma, mb: jnp.sum(jnp.exp(b - mb), -1),
        "pass: C": lambda a, b, ma, mb: jnp.sum(
            jnp.exp(jnp.maximum(a - ma, CLAMP)) * (jnp.maximum(a - ma, CLAMP) - (b - mb)), -1
        ),
    }


def _bind(f, *args):
    jf = jax.jit(f)  # the inputs are arguments: closed-over constants would be folded by XLA
    return lambda: jf(*args)


def main(argv: list[str]) -> int:
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((ROWS, WIDTH), dtype=np.float32))
    b = jnp.asarray(rng.standard_normal((ROWS, WIDTH), dtype=np.float32))
    kernels = {
        "library kernel": fused_kl._kl_value,
        "no barrier": no_barrier,
        "complex S_a + iC": complex_pair,
        "e^a written once": materialised,
        "stacked, trailing axis": stacked(-1),
        "stacked, leading axis": stacked(0),
        "C as a batched dot": dot_cross,
        "shift taken out of C": shift_out,
        "floor: bytes": lambda a, b: (jnp.sum(a, -1), jnp.sum(b, -1)),
        "floor: one exp per element": lambda a, b: (jnp.sum(jnp.exp(a), -1), jnp.sum(jnp.exp(b), -1)),
    }
    ma, mb = fused_kl._row_maxima(a, b)
    fns = {k: _bind(f, a, b) for k, f in kernels.items()}
    fns.update({k: _bind(f, a, b, ma, mb) for k, f in _passes().items()})
    if argv:
        fns = {k: f for k, f in fns.items() if any(s in k for s in argv) or k.startswith("floor")}
    ref = np.asarray(fused_kl._kl_value(a, b))
    for k, f in fns.items():
        out = jax.block_until_ready(f())
        if k in kernels and not k.startswith("floor"):
            dev = np.max(np.abs(np.asarray(out) / ref - 1))
            print(f"{k:28s} max relative deviation from the library kernel {dev:.1e}")
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(7):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    print(f"load average {os.getloadavg()}")
    floor = statistics.median(times["floor: bytes"])
    for k, t in times.items():
        med = statistics.median(t)
        print(f"{k:28s} median {med * 1e3:7.1f} ms ({med / floor:5.2f}x bytes floor)  min {min(t) * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
