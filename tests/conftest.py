"""Shared fixtures: float64 by default, explicit PRNG keys, strict rank promotion.

Rank promotion is strict for library tests; tests/test_experiments.py relaxes it
around experiment scripts, which are user-level code.

x64 is enabled for the whole session (theory checks run in float64, DESIGN.md);
float32 behaviour is tested by passing float32 arrays explicitly, which x64 mode
leaves in float32. Hypothesis uses the ``ci`` profile (small budgets) when
``HYPOTHESIS_PROFILE=ci`` or ``CI`` is set, otherwise ``dev`` (200 examples).
"""

from __future__ import annotations

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key: tests are deterministic."""
    return jax.random.key(20261127)


@pytest.fixture
def x64():
    """Run a test in float64 (the session default; explicit for readability)."""
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)
