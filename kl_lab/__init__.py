"""kl_lab: a JAX laboratory for divergences and the asymptotic theory built on them."""

__version__ = "0.1.0"

from kl_lab import checks, numerics  # noqa: E402,F401
