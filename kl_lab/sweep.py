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
  finished chunk is written atomically, with a sha256 of its contents, to
  ``<dir>/<experiment>/<run key>/<sweep name>-<signature>/chunk_<i>.npz``,
  so an interrupted run (Ctrl-C, ``kill -9``) loses at most the chunk in
  flight and a rerun resumes. The run key (the harness's) covers the
  experiment, its full config, the seed and the code; the signature covers
  the grid, the chunk size, the traced program of ``fn`` (its closed-over
  constants included, so a key captured by ``fn`` is part of it), the dtype
  mode and the device/process layout. A chunk that is unreadable or fails its
  checksum is discarded with a warning and recomputed;
* with several processes, before any chunk is read from the cache the
  processes all-gather their cache views (one digest per chunk) and use a
  chunk only if every process holds it with the same checksum; otherwise
  every process recomputes it. They also check that they run the same sweep
  (same signature) and raise together if not, so a run never hangs in a
  collective that only some processes entered;
* progress goes to stderr: a ``\\r`` line on a terminal, otherwise at most one
  line per finished chunk every :data:`PROGRESS_INTERVAL_S` seconds, with an
  ETA. ``progress=False``, :func:`reporting` ``(False)`` (``--quiet``) or
  ``KL_LAB_PROGRESS=0`` silence it.

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
import io
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["sweep", "grid", "caching", "reporting", "CacheContext", "atomic_write_bytes", "PROGRESS_INTERVAL_S"]

#: seconds between two progress lines when stderr is not a terminal
PROGRESS_INTERVAL_S = 5.0


@dataclasses.dataclass(frozen=True)
class CacheContext:
    """Where :func:`sweep` caches its chunks inside a :func:`caching` context: directory, experiment, run key.

    Example:
      >>> CacheContext(Path("/tmp/cache"), "demo", "abc123").experiment
      'demo'
    """

    directory: Path
    experiment: str
    config_hash: str  #: the run key: everything above the sweep that its numbers depend on


_CACHE: contextvars.ContextVar[CacheContext | None] = contextvars.ContextVar("kl_lab_sweep_cache", default=None)
_REPORT: contextvars.ContextVar[bool | None] = contextvars.ContextVar("kl_lab_sweep_progress", default=None)


@contextlib.contextmanager
def caching(directory: str | os.PathLike, experiment: str, config_hash: str) -> Iterator[CacheContext]:
    """Cache every :func:`sweep` chunk run inside this context under ``directory``.

    ``config_hash`` must identify everything outside the sweep call that the
    numbers depend on (the harness passes a hash of config, seed and code).

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d, caching(d, "demo", "key0") as ctx:
      ...     out = sweep(lambda p: p["x"] ** 2, {"x": np.arange(4.0)}, progress=False)
      >>> ctx.experiment, out.tolist()
      ('demo', [0.0, 1.0, 4.0, 9.0])
    """
    ctx = CacheContext(Path(directory), experiment, config_hash)
    token = _CACHE.set(ctx)
    try:
        yield ctx
    finally:
        _CACHE.reset(token)


@contextlib.contextmanager
def reporting(enabled: bool | None) -> Iterator[None]:
    """Default progress output of the sweeps run inside (``None``: on).

    Args:
      enabled: show progress (``None``: on).

    Example:
      >>> with reporting(False):
      ...     sweep(lambda p: 2 * p, np.arange(3.0)).tolist()
      [0.0, 2.0, 4.0]
    """
    token = _REPORT.set(enabled)
    try:
        yield
    finally:
        _REPORT.reset(token)


def grid(**axes: Any) -> dict[str, np.ndarray]:
    """Cartesian product of 1-D axes, flattened to one leading axis ('ij' order).

    ``grid(a=[1, 2], b=[10, 20, 30])`` gives ``{'a': [1,1,1,2,2,2], 'b': [10,20,30,10,20,30]}``;
    reshape a sweep's output to ``(len(a), len(b), ...)`` to get the grid back.

    Example:
      >>> {k: v.tolist() for k, v in grid(a=[1, 2], b=[10, 20, 30]).items()}
      {'a': [1, 1, 1, 2, 2, 2], 'b': [10, 20, 30, 10, 20, 30]}
    """
    if not axes:
        raise ValueError("grid needs at least one axis; got none")
    arrays = {k: np.asarray(v) for k, v in axes.items()}
    for k, v in arrays.items():
        if v.ndim != 1:
            raise ValueError(f"grid axis {k!r} must be 1-D; got shape {v.shape}")
    mesh = np.meshgrid(*arrays.values(), indexing="ij")
    return {k: m.reshape(-1) for k, m in zip(arrays, mesh)}


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    The file gets the mode a plain ``open(path, "w")`` would give it
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     atomic_write_bytes(Path(d) / "sub" / "x.bin", b"abc")
      ...     (Path(d) / "sub" / "x.bin").read_bytes()
      b'abc'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _layout(devices: list) -> tuple:
    """What of the dtype mode and device/process layout can change a chunk's numbers."""
    return (
        bool(jax.config.jax_enable_x64),
        str(jax.config.jax_default_matmul_precision),
        jax.__version__,
        tuple(sorted({d.platform for d in devices})),
        len(devices),
        jax.process_count(),
    )


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def _signature(leaves: list[np.ndarray], treedef: Any, chunk_size: int, traced: Any, devices: list) -> str:
    h = hashlib.sha256()
    h.update(repr((str(treedef), chunk_size, _layout(devices))).encode())
    for leaf in leaves:
        h.update(repr((leaf.shape, str(leaf.dtype))).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    # the traced program: the code of fn and every constant it closes over (a captured key, a config value);
    # object addresses a primitive's parameters may print are not part of it
    h.update(_ADDRESS.sub("0x", str(traced.jaxpr)).encode())
    for c in traced.jaxpr.consts:
        c = np.asarray(jax.random.key_data(c) if _is_key(c) else c)
        h.update(repr((c.shape, str(c.dtype))).encode())
        h.update(np.ascontiguousarray(c).tobytes())
    return h.hexdigest()[:16]


def _digest(leaves: list[np.ndarray], treedef_str: str) -> str:
    h = hashlib.sha256(treedef_str.encode())
    for leaf in leaves:
        h.update(repr((leaf.shape, str(leaf.dtype))).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


def _write_chunk(path: Path, leaves: list[np.ndarray], treedef_str: str) -> None:
    buf = io.BytesIO()
    arrays = {f"leaf_{j}": x for j, x in enumerate(leaves)}
    np.savez(buf, treedef=np.asarray(treedef_str), sha256=np.asarray(_digest(leaves, treedef_str)), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _read_chunk(path: Path, treedef_str: str, n_leaves: int) -> tuple[list[np.ndarray], str] | None:
    """A cached chunk's leaves and checksum; ``None`` (with a warning) if missing, unreadable or corrupt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored, treedef = str(z["sha256"]), str(z["treedef"])
            leaves = [z[f"leaf_{j}"] for j in range(n_leaves)]
        problem = None
        if treedef != treedef_str:
            problem = f"holds another output structure ({treedef}, expected {treedef_str})"
        elif _digest(leaves, treedef) != stored:
            problem = "fails its sha256 checksum"
    except Exception as e:  # a truncated or overwritten file: zipfile, numpy and key errors alike
        problem = f"is unreadable ({type(e).__name__}: {e})"
    if problem is None:
        return leaves, stored
    warnings.warn(f"sweep cache chunk {path} {problem}; discarding it and recomputing", RuntimeWarning, stacklevel=3)
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def _agree(sig: str, cached: list) -> list:
    """Keep only the chunks every process holds with the same checksum (all processes call this)."""
    from jax.experimental import multihost_utils

    header = np.frombuffer(hashlib.sha256(f"{sig}/{len(cached)}".encode()).digest(), np.uint8)
    headers = np.asarray(multihost_utils.process_allgather(header))
    if not (headers == headers[0]).all():
        raise RuntimeError(
            f"the {jax.process_count()} processes run different sweeps here (signatures or chunk counts differ): "
            "every process must run the same experiment, config and seed"
        )
    digests = np.zeros((len(cached), 32), np.uint8)  # all zero: this process has no valid copy
    for i, c in enumerate(cached):
        if c is not None:
            digests[i] = np.frombuffer(bytes.fromhex(c[1]), np.uint8)
    views = np.asarray(multihost_utils.process_allgather(digests))  # (processes, chunks, 32)
    usable = (views == views[:1]).all(axis=(0, 2)) & views[0].any(axis=1)
    diverged = [i for i, c in enumerate(cached) if c is not None and not usable[i]]
    if diverged:
        warnings.warn(
            f"process {jax.process_index()}: cached sweep chunks {diverged} are missing or differ on another "
            "process; every process recomputes them",
            RuntimeWarning,
            stacklevel=3,
        )
    return [c if ok else None for c, ok in zip(cached, usable)]


class _Progress:
    def __init__(self, name: str, total: int, enabled: bool):
        self.name, self.total, self.enabled = name, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.t0 = self.last = time.perf_counter()
        self.computed = 0
        self.printed = False

    def update(self, done: int, computed: bool) -> None:
        if not self.enabled:
            return
        self.computed += computed
        now = time.perf_counter()
        elapsed = now - self.t0
        eta = elapsed / max(self.computed, 1) * (self.total - done)
        line = f"[{self.name}] {done}/{self.total} chunks, {elapsed:6.1f}s elapsed, ETA {eta:6.1f}s"
        if self.tty:
            sys.stderr.write(f"\r{line}" + ("\n" if done == self.total else ""))
        elif now - self.last >= PROGRESS_INTERVAL_S or (done == self.total and self.printed):
            sys.stderr.write(line + "\n")
            self.last, self.printed = now, True
        else:
            return
        sys.stderr.flush()


def _progress_enabled(progress: bool | None) -> bool:
    if os.environ.get("KL_LAB_PROGRESS") == "0":
        return False
    if progress is not None:
        return progress
    return _REPORT.get() is not False


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
      name: this sweep's name inside the experiment (part of the cache path).
      progress: force the progress output on/off; default on unless silenced
        by :func:`reporting` or ``KL_LAB_PROGRESS=0``.
      callback: ``callback(chunk_index, n_chunks, from_cache)`` after each chunk
        is done (and cached); exceptions propagate, which interrupts the sweep.
      devices: devices to shard over (default ``jax.devices()``).

    Returns:
      ``fn``'s output pytree, each leaf with a leading axis of length ``P``.

    Example:
      >>> g = grid(a=[1.0, 2.0], b=[10.0, 20.0])
      >>> out = sweep(lambda p: {"sum": p["a"] + p["b"]}, g, progress=False)
      >>> out["sum"].reshape(2, 2).tolist()
      [[11.0, 21.0], [12.0, 22.0]]
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

    # traced once: the program is part of the cache key; compiled only if a chunk must be computed
    specs = [jax.ShapeDtypeStruct((chunk_size, *x.shape[1:]), x.dtype, sharding=sharding) for x in leaves]
    traced = jax.jit(jax.vmap(point_fn), out_shardings=sharding).trace(specs)
    out_treedef = traced.out_tree
    out_treedef_str, n_out = str(out_treedef), out_treedef.num_leaves
    compiled = None

    ctx = _CACHE.get()
    paths: list[Path | None] = [None] * n_chunks
    cached: list = [None] * n_chunks
    if ctx is not None or jax.process_count() > 1:
        sig = _signature(leaves, treedef, chunk_size, traced, devices)
    if ctx is not None:
        cache_dir = ctx.directory / ctx.experiment / ctx.config_hash / f"{name}-{sig}"
        paths = [cache_dir / f"chunk_{i:05d}.npz" for i in range(n_chunks)]
        cached = [_read_chunk(p, out_treedef_str, n_out) for p in paths]
    if jax.process_count() > 1:
        cached = _agree(sig, cached)

    bar = _Progress(name, n_chunks, _progress_enabled(progress))
    outputs: list[list[np.ndarray]] = []
    for i in range(n_chunks):
        lo, hi = i * chunk_size, min((i + 1) * chunk_size, total)
        from_cache = cached[i] is not None
        if from_cache:
            out_leaves = cached[i][0]
        else:
            if compiled is None:
                compiled = traced.lower().compile()
            idx = np.arange(lo, lo + chunk_size).clip(max=total - 1)  # pad by repeating the last point
            out = compiled([_to_global(x[idx], sharding) for x in leaves])
            out_leaves = [_to_host(x)[: hi - lo] for x in jax.tree_util.tree_leaves(out)]
            if paths[i] is not None:
                _write_chunk(paths[i], out_leaves, out_treedef_str)
        outputs.append(out_leaves)
        bar.update(i + 1, not from_cache)
        if callback is not None:
            callback(i, n_chunks, from_cache)
    stacked = [np.concatenate([o[j] for o in outputs], axis=0) for j in range(n_out)]
    return jax.tree_util.tree_unflatten(out_treedef, stacked)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
