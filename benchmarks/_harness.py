"""The benchmark contract, its timer and its two output formats.

A file ``benchmarks/bench_<topic>.py`` defines ``benchmarks() -> list[Bench]``. Each :class:`Bench` holds up
to five zero-argument callables, each returning something that can be blocked on:

* ``kl_lab``: the library, jitted (what a loop or a larger jitted program gets);
* ``eager``: the same public function called eagerly, as in a notebook (argument checks and dispatch
  included); its ratio to ``kl_lab`` is the eager overhead (issue 19: within ~1.3x on the hot paths);
* ``reference``: the numpy/scipy (or scikit-learn, POT, PyTorch) code a user would otherwise write;
* ``peer``: the JAX code a JAX user would write (optax, plain ``jax.numpy``, numpyro, ott), jitted;
* ``floor``: a kernel that only streams the data or only does the dominant operation (a sum over the
  inputs, the batched Cholesky, the sort, the distance matmul): no implementation of the same
  computation can beat it by much, so ``kl_lab / floor`` says how far from the hardware the library is.

The runner times every callable of a row in one process, interleaved: one warm-up call each (compilation
for JAX), then ``repeats`` rounds that call each once, and the median per callable. Interleaving makes the
ratios meaningful on a shared, loaded machine, where absolute times drift by 2-10x within a minute.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["Bench", "Timing", "COLUMNS", "time_bench", "time_call", "format_rows", "format_markdown"]

COLUMNS = ("kl_lab", "eager", "reference", "peer", "floor")


@dataclasses.dataclass
class Bench:
    name: str
    kl_lab: Callable[[], Any]
    reference: Callable[[], Any] | None = None
    reference_name: str = "-"
    note: str = ""  # what the sizes are, what the floor is, caveats
    repeats: int = 5
    peer: Callable[[], Any] | None = None
    peer_name: str = "-"
    floor: Callable[[], Any] | None = None
    floor_name: str = "-"
    eager: Callable[[], Any] | None = None


@dataclasses.dataclass
class Timing:
    bench: Bench
    seconds: dict[str, float]  # column -> median seconds, for the callables the row has

    def ratio(self, num: str, den: str) -> float | None:
        a, b = self.seconds.get(num), self.seconds.get(den)
        return None if a is None or b is None or b == 0 else a / b


def _block(x: Any) -> Any:
    return jax.block_until_ready(x) if isinstance(x, (jax.Array, tuple, list, dict)) else x


def time_call(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time (seconds) of ``repeats`` calls after one warm-up call."""
    return time_bench(Bench("", fn, repeats=repeats)).seconds["kl_lab"]


def time_bench(b: Bench) -> Timing:
    """Median seconds of every callable of ``b``, timed interleaved (module docstring)."""
    fns = {c: getattr(b, c) for c in COLUMNS if getattr(b, c) is not None}
    for fn in fns.values():
        _block(fn())
    times: dict[str, list[float]] = {c: [] for c in fns}
    for _ in range(b.repeats):
        for c, fn in fns.items():
            t0 = time.perf_counter()
            _block(fn())
            times[c].append(time.perf_counter() - t0)
    return Timing(b, {c: statistics.median(t) for c, t in times.items()})


def _fmt_t(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.3g} ms" if t < 10 else f"{t:.3g} s"


def _fmt_r(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def format_rows(timings: list[Timing]) -> str:
    """Plain-text table: times, then ratios (reference/kl_lab and peer/kl_lab > 1: kl_lab is faster;
    kl_lab/floor and eager/jit: the closer to 1 the better)."""
    head = (
        f"{'benchmark':46s} {'kl_lab':>10s} {'eager':>10s} {'reference':>10s} {'JAX peer':>10s} {'floor':>10s}"
        f" {'ref/kl':>7s} {'peer/kl':>7s} {'kl/floor':>8s} {'eager/jit':>9s}"
    )
    out = [head, "-" * len(head)]
    for t in timings:
        s = t.seconds
        out.append(
            f"{t.bench.name[:46]:46s} {_fmt_t(s.get('kl_lab')):>10s} {_fmt_t(s.get('eager')):>10s}"
            f" {_fmt_t(s.get('reference')):>10s} {_fmt_t(s.get('peer')):>10s} {_fmt_t(s.get('floor')):>10s}"
            f" {_fmt_r(t.ratio('reference', 'kl_lab')):>7s} {_fmt_r(t.ratio('peer', 'kl_lab')):>7s}"
            f" {_fmt_r(t.ratio('kl_lab', 'floor')):>8s} {_fmt_r(t.ratio('eager', 'kl_lab')):>9s}"
        )
    out.append("")
    out.append("what each row compares:")
    for t in timings:
        b = t.bench
        parts = [f"reference: {b.reference_name}" if b.reference else "", f"peer: {b.peer_name}" if b.peer else ""]
        parts += [f"floor: {b.floor_name}" if b.floor else "", b.note]
        out.append(f"  {b.name}: " + "; ".join(p for p in parts if p))
    return "\n".join(out)


def format_markdown(timings: list[Timing], header: str = "") -> str:
    """The README speed table (``python -m benchmarks --markdown``)."""
    out = [header] if header else []
    out += [
        "| hot path | kl_lab (jit) | eager / jit | numpy/scipy | JAX peer | floor | kl_lab / floor |",
        "|---|---|---|---|---|---|---|",
    ]

    def esc(text: str) -> str:  # a "|" inside a cell (|V|) would end it
        return text.replace("|", "\\|")

    def cell(t: Timing, col: str, name: str) -> str:
        s = t.seconds.get(col)
        if s is None:
            return "—"
        return f"{_fmt_t(s)} ({esc(name)}; {_fmt_r(t.ratio(col, 'kl_lab'))})"

    for t in timings:
        b = t.bench
        out.append(
            f"| {esc(b.name)} | {_fmt_t(t.seconds['kl_lab'])} | {_fmt_r(t.ratio('eager', 'kl_lab'))} "
            f"| {cell(t, 'reference', b.reference_name)} | {cell(t, 'peer', b.peer_name)} "
            f"| {_fmt_t(t.seconds.get('floor')) + ' (' + esc(b.floor_name) + ')' if b.floor else '—'} "
            f"| {_fmt_r(t.ratio('kl_lab', 'floor'))} |"
        )
    out.append("")
    out.append("Times are medians of interleaved calls in one process; a ratio in brackets is that time over kl_lab's.")
    return "\n".join(out)
