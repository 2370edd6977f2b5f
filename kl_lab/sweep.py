"""Sharded, chunked, cached and resumable parameter sweeps.

``sweep(fn, params)`` evaluates a pure function at every point of a parameter
grid. ``params`` is a pytree whose leaves share a leading axis of length ``P``
(one entry per grid point; build a Cartesian product with :func:`grid`, and
put per-point PRNG keys in it with ``jax.random.split``). The result is the
pytree ``fn`` returns, every leaf stacked along a leading axis of length
``P``, as NumPy arrays on the host.

How it runs (DESIGN.md, "Sweeps and scale"):

* the grid is cut into chunks of ``chunk_size`` points (rounded up to a
  multiple of the device count; the last chunk is padded and trimmed, so every
  chunk has one shape and ``fn`` compiles once);
* inside a chunk, ``jax.vmap(fn)``, compiled with ``jax.jit`` and sharded along
  the chunk axis over a one-axis ``jax.sharding.Mesh`` of ``jax.devices()`` --
  one CPU, ``N`` forced host devices, a GPU/TPU slice, or every device of every
  host after ``jax.distributed.initialize()``. We write no parallelism of our
  own: XLA does it;
* inside a :func:`caching` context (the experiment harness opens one) each
  finished chunk is written atomically to
  ``<dir>/<experiment>/<config hash>/<sweep name>-<signature>/chunk_<i>.npz``,
  so an interrupted run (Ctrl-C, ``kill -9``) loses at most the chunk in
  flight and a rerun resumes;
* a progress line with an ETA goes to stderr when stderr is a terminal (or
  ``progress=True``); ``KL_LAB_PROGRESS=0`` silences it.

Determinism: a point's result depends only on its parameters (its key
included). The same configuration (chunk size, device count) reproduces it
bit for bit; another chunking or device count compiles another XLA program,
whose vectorised transcendentals and reductions may differ in the last ulp or
two (tested to 1e-14 relative on 1 and 4 devices).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["sweep", "grid", "caching", "CacheContext", "atomic_write_bytes"]


@dataclasses.dataclass(frozen=True)
class CacheContext:
    directory: Path
    experiment: str
    config_hash: str


_CACHE: contextvars.ContextVar[CacheContext | None] = contextvars.ContextVar("kl_lab_sweep_cache", default=None)


@contextlib.contextmanager
def caching(directory: str | os.PathLike, experiment: str, config_hash: str) -> Iterator[CacheContext]:
    """Cache every :func:`sweep` chunk run inside this context under ``directory``."""
    ctx = CacheContext(Path(directory), experiment, config_hash)
    token = _CACHE.set(ctx)
    try:
        yield ctx
    finally:
        _CACHE.reset(token)


def grid(**axes: Any) -> dict[str, np.ndarray]:
    """Cartesian product of 1-D axes, flattened to one leading axis ('ij' order).

    ``grid(a=[1, 2], b=[10, 20, 30])`` gives ``{'a': [1,1,1,2,2,2], 'b': [10,20,30,10,20,30]}``;
    reshape a sweep's output to ``(len(a), len(b), ...)`` to get the grid back.
    """
    if not axes:
        raise ValueError("grid needs at least one axis; got none")
    arrays = {k: np.asarray(v) for k, v in axes.items()}
    for k, v in arrays.items():
        if v.ndim != 1:
            raise ValueError(f"grid axis {k!r} must be 1-D; got shape {v.shape}")
    mesh = np.meshgrid(*arrays.values(), indexing="ij")
    return {k: m.reshape(-1) for k, m in zip(arrays, mesh)}


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _signature(leaves: list[np.ndarray], treedef: Any, chunk_size: int, fn: Callable) -> str:
    h = hashlib.sha256()
    h.update(repr((str(treedef), chunk_size, getattr(fn, "__qualname__", repr(fn)))).encode())
    for leaf in leaves:
        h.update(repr((leaf.shape, str(leaf.dtype))).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()[:16]


class _Progress:
    def __init__(self, name: str, total: int, enabled: bool):
        self.name, self.total, self.enabled = name, total, enabled
        self.t0 = time.perf_counter()
        self.done_computed = 0

    def update(self, done: int, computed: bool) -> None:
        if not self.enabled:
            return
        self.done_computed += computed
        elapsed = time.perf_counter() - self.t0
        rate = elapsed / max(self.done_computed, 1)
        eta = rate * (self.total - done)
        end = "\n" if done == self.total else ""
        sys.stderr.write(f"\r[{self.name}] {done}/{self.total} chunks, {elapsed:6.1f}s elapsed, ETA {eta:6.1f}s{end}")
        sys.stderr.flush()


def _progress_enabled(progress: bool | None) -> bool:
    if os.environ.get("KL_LAB_PROGRESS") == "0":
        return False
    if progress is not None:
        return progress
    return sys.stderr.isatty()


def _to_global(chunk: np.ndarray, sharding: NamedSharding) -> jax.Array:
    if jax.process_count() == 1:
        return jax.device_put(chunk, sharding)
    # every process holds the whole (deterministic) chunk; each supplies its own shards
    return jax.make_array_from_callback(chunk.shape, sharding, lambda idx: chunk[idx])


def _to_host(x: jax.Array) -> np.ndarray:
    if jax.process_count() == 1:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def sweep(
    fn: Callable[..., Any],
    params: Any,
    *,
    chunk_size: int | None = None,
    name: str = "sweep",
    progress: bool | None = None,
    callback: Callable[[int, int, bool], None] | None = None,
    devices: list | None = None,
) -> Any:
    """Evaluate ``fn`` at every grid point of ``params`` (see the module docstring).

    Args:
      fn: pure function of one grid point (a pytree like ``params`` without the
        leading axis) returning a pytree of arrays.
      params: pytree of arrays sharing a leading axis of length ``P >= 1``.
      chunk_size: grid points per chunk (rounded up to a multiple of the device
        count). Default: ``ceil(P / 8)`` -- eight chunks, a resume granularity
        of 1/8 of the work.
      name: this sweep's name inside the experiment (the cache key).
      progress: force the progress line on/off; default on for a terminal.
      callback: ``callback(chunk_index, n_chunks, from_cache)`` after each chunk
        is done (and cached); exceptions propagate, which interrupts the sweep.
      devices: devices to shard over (default ``jax.devices()``).

    Returns:
      ``fn``'s output pytree, each leaf with a leading axis of length ``P``.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise ValueError("params must hold at least one array; got an empty pytree")
    # typed PRNG keys travel as their raw key data and are re-wrapped inside
    key_impls = [jax.random.key_impl(x) if _is_key(x) else None for x in leaves]
    leaves = [
        np.asarray(jax.random.key_data(x)) if impl is not None else np.asarray(x) for x, impl in zip(leaves, key_impls)
    ]
    sizes = {x.shape[0] if x.ndim else None for x in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"every leaf of params must share one leading axis; got leading sizes {sorted(map(str, sizes))}"
        )
    total = sizes.pop()
    if total == 0:
        raise ValueError("params must hold at least one grid point; got a leading axis of length 0")
    devices = list(jax.devices() if devices is None else devices)
    n_dev = len(devices)
    if chunk_size is None:
        chunk_size = math.ceil(total / 8)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    chunk_size = math.ceil(min(chunk_size, total) / n_dev) * n_dev
    n_chunks = math.ceil(total / chunk_size)

    mesh = Mesh(np.array(devices), ("sweep",))
    sharding = NamedSharding(mesh, P("sweep"))

    def point_fn(flat):
        flat = [jax.random.wrap_key_data(x, impl=impl) if impl is not None else x for x, impl in zip(flat, key_impls)]
        return fn(jax.tree_util.tree_unflatten(treedef, flat))

    batched = jax.jit(jax.vmap(point_fn), out_shardings=sharding)

    ctx = _CACHE.get()
    cache_dir = None
    if ctx is not None:
        sig = _signature(leaves, treedef, chunk_size, fn)
        cache_dir = ctx.directory / ctx.experiment / ctx.config_hash / f"{name}-{sig}"

    bar = _Progress(name, n_chunks, _progress_enabled(progress))
    outputs: list[list[np.ndarray]] = []
    out_treedef = None
    for i in range(n_chunks):
        lo, hi = i * chunk_size, min((i + 1) * chunk_size, total)
        path = cache_dir / f"chunk_{i:05d}.npz" if cache_dir is not None else None
        from_cache = path is not None and path.exists()
        if from_cache:
            with np.load(path, allow_pickle=False) as z:
                out_leaves = [z[f"leaf_{j}"] for j in range(len(z.files) - 1)]
                out_treedef_str = str(z["treedef"])
            if out_treedef is None:
                out_treedef = _treedef_from_eval(point_fn, leaves)
            if str(out_treedef) != out_treedef_str:
                from_cache = False  # stale cache entry of another output structure: recompute
        if not from_cache:
            idx = np.arange(lo, lo + chunk_size).clip(max=total - 1)  # pad by repeating the last point
            chunk = [_to_global(x[idx], sharding) for x in leaves]
            out = batched(chunk)
            flat, out_treedef = jax.tree_util.tree_flatten(out)
            out_leaves = [_to_host(x)[: hi - lo] for x in flat]
            if path is not None:
                import io

                buf = io.BytesIO()
                np.savez(
                    buf, treedef=np.asarray(str(out_treedef)), **{f"leaf_{j}": x for j, x in enumerate(out_leaves)}
                )
                atomic_write_bytes(path, buf.getvalue())
        outputs.append(out_leaves)
        bar.update(i + 1, not from_cache)
        if callback is not None:
            callback(i, n_chunks, from_cache)
    if out_treedef is None:
        out_treedef = _treedef_from_eval(point_fn, leaves)
    stacked = [np.concatenate([o[j] for o in outputs], axis=0) for j in range(len(outputs[0]))]
    return jax.tree_util.tree_unflatten(out_treedef, stacked)


def _treedef_from_eval(point_fn: Callable, leaves: list[np.ndarray]) -> Any:
    return jax.tree_util.tree_structure(
        jax.eval_shape(point_fn, [jax.ShapeDtypeStruct(x.shape[1:], x.dtype) for x in leaves])
    )


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
