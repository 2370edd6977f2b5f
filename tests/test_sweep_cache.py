"""The sweep cache: keyed by everything the numbers depend on, checksummed, and deterministic across seeds."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab import experiment as exp_lib
from kl_lab.sweep import caching, sweep

# the key is closed over by the point function, not a sweep parameter (as in fdistill_weights): the cache
# must still tell seeds apart
FAKE = textwrap.dedent(
    """
    import dataclasses

    import jax
    import numpy as np

    from kl_lab import experiment, plotting
    from kl_lab.checks import check
    from kl_lab.sweep import sweep

    TITLE, CLAIM, RUNTIME = "fake", "y - x is uniform on [0, scale)", "1 s"
    PAPER = experiment.Paper("A", 2000, "0000.00000")
    HITS = []  # from_cache of every chunk, in order


    @dataclasses.dataclass(frozen=True)
    class Config:
        n: int = 6
        scale: float = 1.0
        chunk: int = 2

        @classmethod
        def quick(cls):
            return cls()


    def run(config, key):
        def point(p):
            return {"y": jax.random.uniform(jax.random.fold_in(key, p["i"])) * config.scale + p["x"]}

        x = np.arange(config.n, dtype=float)
        params = {"x": x, "i": np.arange(config.n)}
        out = sweep(point, params, chunk_size=config.chunk, name="u", callback=lambda i, n, c: HITS.append(c))
        return {"x": x, **out}


    def plot(results, config):
        return plotting.subplots()[0]


    def checks(results, config):
        return [
            check("in_range", claim=CLAIM, source="s", kind="abs", predicted=results["x"] + config.scale / 2,
                  measured=results["y"], tolerance=config.scale / 2, reason="a uniform draw lies in its interval")
        ]
    """
)


@pytest.fixture(autouse=True)
def _code_hash_of_the_experiment_only(monkeypatch):
    """The harness hashes every kl_lab source too; other people editing the tree mid-test must not move the key."""
    monkeypatch.setattr(exp_lib, "code_hash", lambda m: hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest())


def _module(directory, text=FAKE, stem="fake_uniform"):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.py"
    path.write_text(text)
    return exp_lib.load(path)


def _run(module, out, **kw):
    """(from_cache of each chunk, results) of one harness run."""
    module.HITS.clear()
    rec = exp_lib.run_experiment(module, out=out, save=False, **kw)
    return list(module.HITS), rec.results


def test_each_ingredient_of_the_key_misses_alone(tmp_path):
    m = _module(tmp_path / "a")
    out = tmp_path / "out"
    hits, base = _run(m, out, seed=0)
    assert hits == [False] * 3
    hits, again = _run(m, out, seed=0)
    assert hits == [True] * 3, "the same run must resume from its cache"
    np.testing.assert_array_equal(again["y"], base["y"])

    hits, other_seed = _run(m, out, seed=1)
    assert hits == [False] * 3, f"seed 1 read seed 0's cached chunks: from_cache={hits}"
    assert not np.array_equal(other_seed["y"], base["y"])

    hits, _ = _run(m, out, seed=0, config=m.Config(scale=2.0))
    assert hits == [False] * 3, f"another config read the cache: from_cache={hits}"

    hits, rechunked = _run(m, out, seed=0, config=m.Config(chunk=3))
    assert hits == [False] * 2, f"another chunking read the cache: from_cache={hits}"
    np.testing.assert_array_equal(rechunked["y"], base["y"])  # elementwise program: chunking cannot change a bit

    edited = _module(tmp_path / "b", FAKE + "\n# an edit\n")  # same experiment name, other code
    hits, _ = _run(edited, out, seed=0)
    assert hits == [False] * 3, f"edited code read the old code's cache: from_cache={hits}"

    hits, _ = _run(m, out, seed=0)
    assert hits == [True] * 3


def _f(p):
    return {"y": jnp.sin(p["x"]) * p["x"]}


def test_dtype_mode_is_part_of_the_key(tmp_path):
    params = {"x": np.linspace(0.0, 1.0, 6)}
    hits = []
    with caching(tmp_path, "exp", "run"):
        a = sweep(_f, params, chunk_size=2, progress=False)
        jax.config.update("jax_enable_x64", False)
        try:
            b = sweep(_f, params, chunk_size=2, progress=False, callback=lambda i, n, c: hits.append(c))
        finally:
            jax.config.update("jax_enable_x64", True)
    assert hits == [False] * 3, f"float32 mode read float64 chunks: from_cache={hits}"
    assert a["y"].dtype == np.float64 and b["y"].dtype == np.float32, (a["y"].dtype, b["y"].dtype)


LAYOUT_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import sys
    sys.path.insert(0, {tests!r})
    from test_sweep_cache import _f
    from kl_lab.sweep import caching, sweep
    assert jax.device_count() == 2, jax.devices()
    hits = []
    with caching({cache!r}, "exp", "run"):
        sweep(_f, {{"x": np.linspace(0.0, 1.0, 6)}}, chunk_size=2, progress=False,
              callback=lambda i, n, c: hits.append(c))
    print("HITS", hits)
    """
)


def test_device_layout_is_part_of_the_key(tmp_path):
    with caching(tmp_path, "exp", "run"):
        sweep(_f, {"x": np.linspace(0.0, 1.0, 6)}, chunk_size=2, progress=False)  # one device, chunks of 2
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"  # + the suite's
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    script = LAYOUT_SCRIPT.format(tests=os.path.dirname(__file__), cache=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # same chunk size (2 is a multiple of 2 devices), another XLA program: must not read the 1-device chunks
    assert "HITS [False, False, False]" in r.stdout, r.stdout


def test_corrupt_chunks_are_discarded_with_a_warning_and_recomputed(tmp_path):
    m = _module(tmp_path / "a")
    out = tmp_path / "out"
    _, base = _run(m, out, seed=0)
    chunks = sorted(out.rglob("chunk_*.npz"))
    assert len(chunks) == 3
    data = chunks[0].read_bytes()
    chunks[0].write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    data = bytearray(chunks[1].read_bytes())
    data[len(data) // 2 :] = bytes(b ^ 0xFF for b in data[len(data) // 2 :])  # flipped bytes
    chunks[1].write_bytes(bytes(data))
    with np.load(chunks[2]) as z:  # a well-formed file whose numbers no longer match the stored sha256
        arrays = dict(z)
    arrays["leaf_0"] = arrays["leaf_0"] + 1.0
    np.savez(chunks[2], **arrays)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits, again = _run(m, out, seed=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert hits == [False] * 3, f"a corrupt chunk was used: from_cache={hits}"
    assert len([s for s in messages if "discarding it and recomputing" in s]) == 3, messages
    assert any("fails its sha256 checksum" in s for s in messages), messages
    np.testing.assert_array_equal(again["y"], base["y"])
    hits, _ = _run(m, out, seed=0)
    assert hits == [True] * 3, "the recomputed chunks must be written back"


@pytest.mark.slow
def test_two_seeds_into_one_out_match_fresh_runs(tmp_path):
    """Issue 14's done-when: seed 0 then seed 1 into one --out give seed 1's own results (fdistill_weights
    closes its key over the Monte Carlo sweep)."""

    def results(seed, out):
        exp_lib.run_experiment("fdistill_weights", quick=True, seed=seed, out=out)
        doc = json.loads((out / "fdistill_weights.json").read_text())
        assert doc["provenance"]["seed"] == seed
        return doc["results"]

    shared = results(0, tmp_path / "shared")
    second = results(1, tmp_path / "shared")
    fresh = results(1, tmp_path / "fresh")
    assert second == fresh, "seed 1 run into seed 0's --out differs from a fresh seed-1 run"
    assert second != shared
