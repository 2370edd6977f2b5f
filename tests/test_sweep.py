"""sweep.py: results independent of chunking and devices; resume after interruption."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.sweep import caching, grid, sweep


def _fn(point):
    k = point["key"]
    z = jax.random.normal(k, (16,))
    return {"mean": jnp.mean(z) * point["scale"], "vec": z[:3] + point["scale"]}


def _params(n=23):
    return {"key": jax.random.split(jax.random.key(0), n), "scale": np.linspace(0.5, 2.0, n)}


def test_grid_product_order():
    g = grid(a=[1, 2], b=[10, 20, 30])
    np.testing.assert_array_equal(g["a"], [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(g["b"], [10, 20, 30, 10, 20, 30])
    with pytest.raises(ValueError, match="must be 1-D"):
        grid(a=np.zeros((2, 2)))


def test_matches_plain_vmap_for_any_chunking():
    params = _params()
    ref = jax.vmap(_fn)(params)
    for cs in (1, 5, 23, 100):
        out = sweep(_fn, params, chunk_size=cs, progress=False)
        # XLA vectorises transcendentals and reductions per batch shape: a few ulps apart, never more
        np.testing.assert_allclose(out["mean"], np.asarray(ref["mean"]), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(out["vec"], np.asarray(ref["vec"]), rtol=1e-14, atol=1e-16)
        assert out["vec"].shape == (23, 3)


def test_bad_params_raise():
    with pytest.raises(ValueError, match="share one leading axis"):
        sweep(_fn, {"key": jax.random.split(jax.random.key(0), 3), "scale": np.ones(4)})
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        sweep(_fn, _params(), chunk_size=0)


def test_resume_after_interruption_recomputes_nothing_finished(tmp_path):
    params = _params()
    calls = []

    class Interrupt(Exception):
        pass

    def stop_after_two(i, n, from_cache):
        calls.append((i, from_cache))
        if i == 1:
            raise Interrupt

    with caching(tmp_path, "exp", "cfg"), pytest.raises(Interrupt):
        sweep(_fn, params, chunk_size=5, progress=False, callback=stop_after_two)
    assert calls == [(0, False), (1, False)]

    seen = []
    with caching(tmp_path, "exp", "cfg"):
        resumed = sweep(_fn, params, chunk_size=5, progress=False, callback=lambda i, n, c: seen.append((i, c)))
    assert seen == [(0, True), (1, True), (2, False), (3, False), (4, False)]
    fresh = sweep(_fn, params, chunk_size=5, progress=False)
    for k in fresh:
        np.testing.assert_array_equal(resumed[k], fresh[k])
    # no temporary files are left behind by the atomic writes
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_cache_key_depends_on_params(tmp_path):
    params = _params()
    with caching(tmp_path, "exp", "cfg"):
        sweep(_fn, params, chunk_size=5, progress=False)
        other = dict(params, scale=params["scale"] * 2)
        hits = []
        sweep(_fn, other, chunk_size=5, progress=False, callback=lambda i, n, c: hits.append(c))
    assert not any(hits)


SHARD_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import sys
    sys.path.insert(0, {tests!r})
    from test_sweep import _fn, _params
    from kl_lab.sweep import sweep
    assert jax.device_count() == {n}, jax.devices()
    out = sweep(_fn, _params(), chunk_size=6, progress=False)
    np.savez({path!r}, **out)
    """
)


@pytest.mark.parametrize("n_devices", [1, 4])
def test_same_numbers_on_one_and_four_host_devices(tmp_path, n_devices):
    here = os.path.dirname(__file__)
    path = str(tmp_path / f"out{n_devices}.npz")
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_devices}"  # + the suite's
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    script = SHARD_SCRIPT.format(tests=here, n=n_devices, path=path)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    ref = jax.vmap(_fn)(_params())
    with np.load(path) as z:
        # per-device batches differ in size, so a reduction may round differently by a few ulps
        np.testing.assert_allclose(z["mean"], np.asarray(ref["mean"]), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(z["vec"], np.asarray(ref["vec"]), rtol=1e-14, atol=1e-16)
