"""The harness: determinism, provenance, atomic writes, resume, fresh."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab import experiment as exp_lib


def test_two_runs_same_seed_identical_json_results(tmp_path):
    a = exp_lib.run_experiment("bernoulli_bounds", quick=True, seed=3, out=tmp_path / "a")
    # b: the quick preset's config run as a full run (config given, quick=False): the same numbers, and a PDF
    config = exp_lib.load("bernoulli_bounds").Config.quick()
    b = exp_lib.run_experiment("bernoulli_bounds", config=config, seed=3, out=tmp_path / "b")
    ja = json.loads((tmp_path / "a" / "bernoulli_bounds.json").read_text())
    jb = json.loads((tmp_path / "b" / "bernoulli_bounds.json").read_text())
    assert ja["results"] == jb["results"]
    assert ja["config"] == jb["config"]
    assert ja["all_passed"] is True
    prov = ja["provenance"]
    for field in (
        "kl_lab_version",
        "git_commit",
        "jax_version",
        "jaxlib_version",
        "backend",
        "device_count",
        "x64",
        "seed",
        "wall_time_s",
    ):
        assert field in prov
    assert prov["x64"] is True and prov["seed"] == 3
    assert (tmp_path / "a" / "bernoulli_bounds.png").stat().st_size > 1000
    assert not (tmp_path / "a" / "bernoulli_bounds.pdf").exists()  # a quick run writes no PDF
    assert (tmp_path / "b" / "bernoulli_bounds.pdf").read_bytes().startswith(b"%PDF")
    assert a.checks and all(c.passed for c in a.checks) and b.wall_time_s > 0


def test_json_has_no_bare_nan_or_inf(tmp_path):
    exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path)
    text = (tmp_path / "bernoulli_bounds.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert '"inf"' in text  # KL = inf where q = 0 < p is written as the string "inf"


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path)
    target = tmp_path / "bernoulli_bounds.json"
    before = target.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        exp_lib.run_experiment("bernoulli_bounds", quick=True, seed=9, out=tmp_path)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resume_uses_cache_and_fresh_clears_it(tmp_path):
    exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path, save=False)
    cache = tmp_path / ".cache" / "bernoulli_bounds"
    chunks = sorted(cache.rglob("chunk_*.npz"))
    assert chunks
    stamp = {p: p.stat().st_mtime_ns for p in chunks}
    exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path, save=False)
    assert {p: p.stat().st_mtime_ns for p in chunks} == stamp  # read back, not rewritten
    exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path, save=False, fresh=True)
    assert all(p.stat().st_mtime_ns != stamp[p] for p in chunks)


def test_unknown_experiment_suggests_close_matches():
    with pytest.raises(exp_lib.UnknownExperimentError, match="Did you mean: bernoulli_bounds"):
        exp_lib.load("bernouli_bounds")


def test_to_jsonable_roundtrip():
    d = exp_lib.to_jsonable({"a": np.array([1.0, np.inf, -np.inf, np.nan]), "b": np.int64(3), "c": (1, 2)})
    assert d == {"a": [1.0, "inf", "-inf", "nan"], "b": 3, "c": [1, 2]}


def test_overrides_are_applied_recorded_and_reloaded(tmp_path):
    rec = exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path, overrides={"grid_points": 21})
    assert rec.config.grid_points == 21 and rec.config.chunk_size == 256  # the quick preset, then the override
    module, config, results, doc = exp_lib.load_saved("bernoulli_bounds", out=tmp_path)
    assert doc["overrides"] == {"grid_points": 21}
    assert config == rec.config
    assert all(c.passed for c in module.checks(results, config))
    with pytest.raises(exp_lib.ConfigOverrideError, match="grid_point"):
        exp_lib.run_experiment("bernoulli_bounds", quick=True, out=tmp_path, overrides={"grid_point": 21})


def test_release_compiled_programs_unmaps_executables():
    """Each compiled XLA:CPU program maps memory regions that only dropping JAX's caches gives back (the cause
    of the suite's worker segfaults at Linux's vm.max_map_count; kl_lab.experiment.release_compiled_programs)."""
    if exp_lib.memory_map_use() is None:
        pytest.skip("no /proc memory-map accounting on this system")
    exp_lib.release_compiled_programs(above=0.0)
    before = exp_lib.memory_map_use()
    for k in range(40):  # 40 distinct programs (the constant k is baked into each)
        jax.jit(lambda x, k=k: jnp.sum(jnp.exp(x) * k) + jnp.cumsum(x)[-1])(jnp.ones(3)).block_until_ready()
    grown = exp_lib.memory_map_use()
    assert grown > before  # each executable holds >= 1 mapped region (3.5 measured for programs like these)
    assert exp_lib.release_compiled_programs(above=1.0) is False  # never more than the whole limit in use
    assert exp_lib.release_compiled_programs(above=0.0) is True
    assert exp_lib.memory_map_use() < grown
    with pytest.raises(ValueError, match="`above`"):
        exp_lib.release_compiled_programs(above=1.5)
