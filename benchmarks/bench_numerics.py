"""logsumexp over rows: kl_lab's safe-gradient version against scipy.special.logsumexp."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sp

from benchmarks._harness import Bench
from kl_lab.numerics import logsumexp


def benchmarks() -> list[Bench]:
    x = np.random.default_rng(0).standard_normal((1024, 32768)).astype(np.float32)
    xj = jnp.asarray(x)
    f = jax.jit(logsumexp)
    peer = jax.jit(lambda x: jax.nn.logsumexp(x, axis=-1))
    stream = jax.jit(lambda x: jnp.sum(x, axis=-1))
    return [
        Bench(
            "logsumexp (1024, 32768) f32",
            lambda: f(xj),
            lambda: sp.logsumexp(x, axis=-1),
            "scipy.special.logsumexp",
            note=f"{x.nbytes / 2**20:.0f} MiB input",
            peer=lambda: peer(xj),
            peer_name="jax.nn.logsumexp",
            floor=lambda: stream(xj),
            floor_name="read the input once (row sums)",
            eager=lambda: logsumexp(xj, axis=-1),
        )
    ]
