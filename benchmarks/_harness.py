"""The benchmark contract and its timer.

A file ``benchmarks/bench_<topic>.py`` defines ``benchmarks() -> list[Bench]``.
Each :class:`Bench` pairs a kl_lab callable with the reference a user would
otherwise reach for (numpy/scipy, scikit-learn, POT, PyTorch, numpyro...),
both taking no arguments and returning something that can be blocked on.
The runner times both in one process: one warm-up call (compilation for
JAX), then the median of ``repeats`` calls, and prints the ratio
reference / kl_lab (> 1 means kl_lab is faster).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["Bench", "time_call", "format_rows"]


@dataclasses.dataclass
class Bench:
    name: str
    kl_lab: Callable[[], Any]
    reference: Callable[[], Any] | None
    reference_name: str
    note: str = ""  # e.g. the bytes-moved floor, or what the sizes are
    repeats: int = 5


def _block(x: Any) -> Any:
    return jax.block_until_ready(x) if isinstance(x, (jax.Array, tuple, list, dict)) else x


def time_call(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time (seconds) of ``repeats`` calls after one warm-up call."""
    _block(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fmt_t(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:9.3f} ms" if t < 10 else f"{t:9.2f} s "


def format_rows(rows: list[tuple[str, float, float | None, str, str]]) -> str:
    head = f"{'benchmark':42s} {'kl_lab':>12s} {'reference':>12s} {'ratio':>8s}  reference / note"
    out = [head, "-" * len(head)]
    for name, t_k, t_r, ref, note in rows:
        ratio = f"{t_r / t_k:7.2f}x" if t_r is not None else "      -"
        out.append(f"{name:42s} {_fmt_t(t_k):>12s} {_fmt_t(t_r):>12s} {ratio:>8s}  {ref}{'; ' + note if note else ''}")
    return "\n".join(out)
