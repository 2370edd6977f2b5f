"""The experiment contract and the harness that runs it.

An experiment is one file ``experiments/<name>.py`` defining (DESIGN.md, "Experiments"):

* ``Config`` -- a frozen dataclass whose defaults are the full size, with a
  classmethod ``quick()`` returning a preset that finishes in seconds;
* ``run(config, key) -> results`` -- a pytree of arrays and scalars (the heavy
  part goes through :func:`kl_lab.sweep.sweep`);
* ``plot(results, config) -> matplotlib.figure.Figure``;
* ``checks(results, config) -> list[kl_lab.checks.Check]``;
* metadata: ``TITLE``, ``PAPER`` (a :class:`Paper`), ``CLAIM`` (one sentence),
  ``RUNTIME`` (expected wall time at full size on a 2-core CPU, e.g. ``"40 s"``).

and ending with ``if __name__ == "__main__": raise SystemExit(kl_lab.cli.run_script(__file__))``.

:func:`run_experiment` writes ``<out>/<name>.png``, ``.pdf`` and ``.json``
(config, results, checks and provenance), each atomically; a quick run writes no PDF. Results depend only
on the config and the seed: two runs give byte-identical ``results`` in the
JSON. Sweep chunks are cached under ``<out>/.cache``, keyed by
:func:`run_key` (experiment, full config, seed and its key data, code hash,
dtype mode, jax version) and by each sweep's own signature (grid, chunking,
traced program, device/process layout), so an interrupted run resumes and a
run never reads numbers another config, seed or code computed;
``fresh=True`` clears this experiment's cache first.

``overrides`` (``--set field=value`` on the command line, parsed by
:func:`parse_overrides` from the ``Config`` field's type) replace fields of the
base config (full or quick) and are recorded in the JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from kl_lab import sweep as sweep_lib
from kl_lab.configs import ConfigOverrideError, config_from_jsonable, from_jsonable, parse_overrides, to_jsonable

__all__ = [
    "Paper",
    "Record",
    "experiments_dir",
    "experiments_location",
    "source_root",
    "default_out_dir",
    "list_experiments",
    "load",
    "config_hash",
    "run_key",
    "parse_overrides",
    "ConfigOverrideError",
    "run_experiment",
    "to_jsonable",
    "UnknownExperimentError",
    "load_saved",
    "memory_map_use",
    "release_compiled_programs",
]

REQUIRED = ("Config", "run", "plot", "checks", "TITLE", "PAPER", "CLAIM", "RUNTIME")


@dataclasses.dataclass(frozen=True)
class Paper:
    """Where a claim comes from: authors, year, arXiv id and the section/equation.

    Args:
      authors: author list as cited (e.g. ``'Sheena'``).
      year: publication year.
      arxiv: arXiv id with its version (e.g. ``'2105.08947v5'``).
      where: section/theorem/equation of the claim.

    Example:
      >>> Paper("Sheena", 2021, "2105.08947v5", "Sec. 3").cite()
      'Sheena (2021), arXiv:2105.08947v5, Sec. 3'
    """

    authors: str
    year: int
    arxiv: str
    where: str = ""

    def cite(self) -> str:
        """``"Authors (year), arXiv:id, where"`` (the location left out when empty)."""
        loc = f", {self.where}" if self.where else ""
        return f"{self.authors} ({self.year}), arXiv:{self.arxiv}{loc}"


@dataclasses.dataclass
class Record:
    """What :func:`run_experiment` returns: the outputs and where they were written.

    Example:
      >>> [f.name for f in dataclasses.fields(Record)]
      ['name', 'config', 'results', 'checks', 'paths', 'wall_time_s']
    """

    name: str
    config: Any
    results: Any
    checks: list
    paths: dict
    wall_time_s: float


class UnknownExperimentError(KeyError):
    """An experiment name that is not in :func:`list_experiments`; the message suggests close names.

    Args:
      name: the name asked for.
      known: the experiment names that exist.

    Example:
      >>> UnknownExperimentError("bernouli_bounds", ["bernoulli_bounds", "bon_kl"]).close
      ['bernoulli_bounds']
    """

    def __init__(self, name: str, known: Sequence[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"unknown experiment {name!r}.{hint} Known: {', '.join(known)}")
        self.name, self.close = name, close

    def __str__(self) -> str:
        return str(self.args[0])


#: the package the wheel installs the ``experiments/`` folder as (pyproject.toml, ``[tool.setuptools]``)
INSTALLED_EXPERIMENTS = "kl_lab_experiments"


def source_root() -> Path | None:
    """The source checkout this ``kl_lab`` runs from (a clone, or an editable install), or ``None`` if installed.

    A checkout has the ``kl-lab`` project's ``pyproject.toml`` and an ``experiments/`` folder beside the
    package; site-packages has neither.

    Example:
      >>> root = source_root()
      >>> root is None or (root / "experiments").is_dir()
      True
    """
    root = Path(__file__).resolve().parents[1]
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if (root / "experiments").is_dir() and 'name = "kl-lab"' in pyproject else None


def _installed_experiments() -> Path | None:
    try:
        found = resources.files(INSTALLED_EXPERIMENTS)
    except ModuleNotFoundError:
        return None
    return found if isinstance(found, Path) and found.is_dir() else None  # None for a zipped install


def _locate_experiments() -> tuple[Path | None, str]:
    env = os.environ.get("KL_LAB_EXPERIMENTS")
    if env:
        return Path(env), f"{env} ($KL_LAB_EXPERIMENTS)"
    root = source_root()
    if root is not None:
        return root / "experiments", f"{root / 'experiments'} (the source checkout kl_lab runs from)"
    installed = _installed_experiments()
    if installed is not None:
        return installed, f"{installed} (the installed package {INSTALLED_EXPERIMENTS})"
    return None, (
        f"nowhere: $KL_LAB_EXPERIMENTS is not set, {Path(__file__).resolve().parent} is not in a source checkout, "
        f"and no package {INSTALLED_EXPERIMENTS} is installed"
    )


def experiments_dir() -> Path | None:
    """The folder of experiment files, the first of:

    1. ``$KL_LAB_EXPERIMENTS``, if set;
    2. ``experiments/`` of the source checkout kl_lab runs from (:func:`source_root`), so a file added
       there is picked up without reinstalling;
    3. the installed package ``kl_lab_experiments`` (the same files, shipped in the wheel), found through
       :mod:`importlib.resources`.

    ``None`` where there is none (then :func:`list_experiments` is empty and :func:`experiments_location`
    says where it looked).

    Example:
      >>> d = experiments_dir()
      >>> d is None or (d / "bernoulli_bounds.py").is_file()
      True
    """
    return _locate_experiments()[0]


def experiments_location() -> str:
    """Where :func:`experiments_dir` found the experiments, or where it looked, in words (for messages).

    Example:
      >>> isinstance(experiments_location(), str)
      True
    """
    return _locate_experiments()[1]


def default_out_dir(quick: bool = False) -> Path:
    """Where results go without ``out``: ``paper_figures/`` of the source checkout, or of the current
    directory when kl_lab is installed (never site-packages); quick runs in its ``quick/`` subfolder.

    Example:
      >>> default_out_dir().name, default_out_dir(quick=True).parts[-2:]
      ('paper_figures', ('paper_figures', 'quick'))
    """
    root = source_root()
    base = (root if root is not None else Path.cwd()) / "paper_figures"
    return base / "quick" if quick else base


def list_experiments(directory: Path | None = None) -> list[str]:
    """Sorted names of the experiment files in ``directory`` (default :func:`experiments_dir`); ``_*`` left out.

    Example:
      >>> "bernoulli_bounds" in list_experiments()
      True
    """
    d = directory or experiments_dir()
    if d is None:
        return []
    return sorted(p.stem for p in d.glob("*.py") if not p.name.startswith("_"))


_LOADED: dict[Path, ModuleType] = {}


def load(name_or_path: str | os.PathLike, directory: Path | None = None) -> ModuleType:
    """Import an experiment module by name (``"bernoulli_bounds"``) or file path.

    Raises :class:`UnknownExperimentError` for an unknown name and ``TypeError`` when the module lacks part
    of the contract (``Config``, ``run``, ``plot``, ``checks``, ``TITLE``, ``PAPER``, ``CLAIM``, ``RUNTIME``).

    Args:
      name_or_path: an experiment name or a file path.
      directory: where experiments live (``None``: the repository's ``experiments/``).

    Example:
      >>> m = load("bernoulli_bounds")
      >>> m.NAME, isinstance(m.PAPER, Paper)
      ('bernoulli_bounds', True)
    """
    p = Path(name_or_path)
    if p.suffix != ".py":
        known = list_experiments(directory)
        if str(name_or_path) not in known:
            raise UnknownExperimentError(str(name_or_path), known)
        p = (directory or experiments_dir()) / f"{name_or_path}.py"
    p = p.resolve()
    if p in _LOADED:
        return _LOADED[p]
    spec = importlib.util.spec_from_file_location(f"kl_lab_experiments.{p.stem}", p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise TypeError(f"experiment {p.stem!r} ({p}) must define {', '.join(REQUIRED)}; missing {', '.join(missing)}")
    module.NAME = p.stem
    _LOADED[p] = module
    return module


def config_hash(name: str, config: Any) -> str:
    """Hash of (experiment name, config): the key of the config's sweep cache.

    The first 16 hex digits of the SHA-256 of the sorted JSON of both.

    Example:
      >>> m = load("bernoulli_bounds")
      >>> h = config_hash("bernoulli_bounds", m.Config())
      >>> len(h), h == config_hash("bernoulli_bounds", m.Config()), h == config_hash("x", m.Config())
      (16, True, False)
    """
    payload = json.dumps({"experiment": name, "config": to_jsonable(config)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


_CODE_HASH: dict[tuple, str] = {}


def code_hash(module: ModuleType) -> str:
    """Hash of the experiment's source and of every ``kl_lab`` source file.

    Part of the cache key, so editing the library or the experiment never
    resumes from chunks that the old code computed (files are re-read when
    their size or modification time changes).
    """
    files = sorted(Path(__file__).resolve().parent.rglob("*.py"))
    src = getattr(module, "__file__", None)
    if src:
        files.append(Path(src))
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    if stamp not in _CODE_HASH:
        h = hashlib.sha256()
        for f in files:
            h.update(f.read_bytes())
        _CODE_HASH[stamp] = h.hexdigest()[:16]
    return _CODE_HASH[stamp]


def run_key(name: str, config: Any, seed: int, module: ModuleType) -> str:
    """The sweep cache key of one run: everything outside the sweeps that its numbers depend on.

    The experiment, its full config, the seed and the PRNG key data it gives
    (with the key implementation), the code hash, the dtype mode and the jax
    version. The grid, chunking, traced program and device/process layout are
    added by each sweep (:func:`kl_lab.sweep.sweep`).

    Args:
      name: the experiment's name.
      config: its ``Config`` instance.
      seed: the PRNG seed.
      module: the experiment module.

    Example:
      >>> m = load("bernoulli_bounds")
      >>> run_key("bernoulli_bounds", m.Config(), 0, m) != run_key("bernoulli_bounds", m.Config(), 1, m)
      True
    """
    key = jax.random.key(seed)
    payload = {
        "experiment": name,
        "config": to_jsonable(config),
        "seed": int(seed),
        "key_data": np.asarray(jax.random.key_data(key)).tolist(),
        "key_impl": str(jax.random.key_impl(key)),
        "code": code_hash(module),
        "x64": bool(jax.config.jax_enable_x64),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "jax": jax.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _git_commit() -> str | None:
    root = source_root()
    if root is None:  # installed: a repository around site-packages is not ours
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "kl_lab", "experiments"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed: int, wall_time_s: float) -> dict:
    import jaxlib

    from kl_lab import __version__

    return {
        "kl_lab_version": __version__,
        "git_commit": _git_commit(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "seed": seed,
        "wall_time_s": round(wall_time_s, 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def memory_map_use() -> float | None:
    """The fraction of this process's memory-map limit in use: regions in ``/proc/self/maps`` over
    ``/proc/sys/vm/max_map_count`` (Linux; Linux's default 65,530 where the limit cannot be read, as in some
    containers); ``None`` where the process's maps cannot be read (other systems).
    """
    try:
        with open("/proc/self/maps", "rb") as f:
            used = f.read().count(b"\n")
    except OSError:
        return None
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        limit = 65530
    return used / limit if limit > 0 else None


def release_compiled_programs(above: float = 0.5) -> bool:
    """Drop JAX's compiled programs (``jax.clear_caches()``) when more than ``above`` of the process's
    memory-map limit is in use; returns whether it did.

    Every XLA:CPU executable maps its machine code into the process (3.5 regions for a small program, more
    for one with many fused kernels, measured with jaxlib 0.10.2), and JAX's caches keep every executable
    alive for the life of the process. Linux caps a process at ``vm.max_map_count`` regions (65,530 by
    default); past it, the next ``mmap`` fails and XLA crashes with a segfault while compiling or while
    reading back an executable from the persistent cache. A long-lived process that compiles many
    different programs reaches the cap: a pytest-xdist worker of this project's suite did after ~25
    minutes (its core dump held 65,525 mapped regions; the crash moved from test to test between runs).
    ``kl-lab run`` calls this between experiments and the test suite after every test; a notebook or a
    script that runs many experiments can too. Later calls recompile what they need (or read it back from
    the persistent compilation cache). Where the process's maps cannot be read (:func:`memory_map_use` is
    ``None``: not Linux), nothing is dropped unless ``above`` is 0.

    Args:
      above: the fraction of the limit (in ``[0, 1]``) beyond which the caches are cleared; 0 always clears.

    Returns:
      ``True`` when the caches were cleared.

    Example:
      >>> release_compiled_programs(above=1.0)  # the whole limit is never exceeded: nothing to drop
      False
    """
    if not 0.0 <= above <= 1.0:
        raise ValueError(f"release_compiled_programs: `above` must be a fraction in [0, 1], got {above!r}")
    if above > 0.0:
        use = memory_map_use()
        if use is None or use <= above:
            return False
    jax.clear_caches()
    return True


def run_experiment(
    name_or_module: str | ModuleType,
    *,
    quick: bool = False,
    config: Any = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    fresh: bool = False,
    save: bool = True,
    overrides: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> Record:
    """Run one experiment in float64 and write its figure and JSON.

    Args:
      name_or_module: registered name or an already loaded module.
      quick: use ``Config.quick()`` (ignored when ``config`` is given).
      config: an explicit config instance.
      seed: the PRNG seed; results are a deterministic function of (config, seed).
      out: output folder; default ``paper_figures/`` for full size and
        ``paper_figures/quick/`` for quick runs, in the source checkout, or in the
        current directory when kl_lab is installed (:func:`default_out_dir`).
      fresh: delete this experiment's sweep cache first.
      save: write PNG/PDF/JSON (the tests turn it off when they only need checks); quick runs write no PDF.
        With several processes only process 0 writes them.
      overrides: ``{field: value}`` replacing fields of the config (see
        :func:`parse_overrides`); recorded in the JSON as ``"overrides"``.
      progress: the sweeps' progress output (``None``: on, unless
        ``KL_LAB_PROGRESS=0``; ``False``: silent).

    Example (a few seconds, and it switches on ``jax_enable_x64`` for the process, so it is not run by
    the doctests; :func:`load_saved` below is):
      >>> rec = run_experiment("bernoulli_bounds", quick=True, save=False, progress=False)  # doctest: +SKIP
      >>> rec.name, all(c.passed for c in rec.checks)  # doctest: +SKIP
      ('bernoulli_bounds', True)
    """
    jax.config.update("jax_enable_x64", True)
    module = load(name_or_module) if isinstance(name_or_module, str) else name_or_module
    name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])
    if config is None:
        config = module.Config.quick() if quick else module.Config()
    overrides = dict(overrides or {})
    if overrides:
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(config)})
        if unknown:
            raise ConfigOverrideError(
                f"overrides name no field of {name}.Config: {unknown}; "
                f"fields: {[f.name for f in dataclasses.fields(config)]}"
            )
        config = dataclasses.replace(config, **overrides)
    out_dir = Path(out) if out is not None else default_out_dir(quick)
    chash = config_hash(name, config)
    cache_root = out_dir / ".cache"
    if fresh:
        shutil.rmtree(cache_root / name, ignore_errors=True)

    t0 = time.perf_counter()
    key = jax.random.key(seed)
    with sweep_lib.caching(cache_root, name, run_key(name, config, seed, module)), sweep_lib.reporting(progress):
        results = module.run(config, key)
    results = jax.tree_util.tree_map(np.asarray, results)
    wall = time.perf_counter() - t0
    check_list = list(module.checks(results, config))
    paths: dict[str, str] = {}
    if save and jax.process_index() == 0:
        import matplotlib

        matplotlib.use("Agg")
        from kl_lab import plotting

        fig = module.plot(results, config)
        paths.update(plotting.save(fig, out_dir / name, ("png",) if quick else ("png", "pdf")))
        doc = {
            "name": name,
            "title": module.TITLE,
            "paper": dataclasses.asdict(module.PAPER),
            "claim": module.CLAIM,
            "config": to_jsonable(config),
            "overrides": to_jsonable(overrides),
            "config_hash": chash,
            "code_hash": code_hash(module),
            "results": to_jsonable(results),
            "checks": [to_jsonable(c.to_json()) for c in check_list],
            "all_passed": all(c.passed for c in check_list),
            "provenance": provenance(seed, wall),
        }
        jpath = out_dir / f"{name}.json"
        sweep_lib.atomic_write_bytes(jpath, (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())
        paths["json"] = str(jpath)
    return Record(name, config, results, check_list, paths, wall)


def load_saved(name: str, out: str | os.PathLike | None = None) -> tuple[ModuleType, Any, Any, dict]:
    """Load ``<out>/<name>.json`` (default :func:`default_out_dir`): ``(module, config, results, doc)``.

    ``results`` is the saved pytree with arrays rebuilt, so ``module.checks(results, config)``
    re-evaluates the theory checks on the saved simulation without rerunning it.

    Example:
      >>> module, config, results, doc = load_saved("bernoulli_bounds")
      >>> doc["name"], all(c.passed for c in module.checks(results, config)) == doc["all_passed"]
      ('bernoulli_bounds', True)
    """
    module = load(name)
    out_dir = Path(out) if out is not None else default_out_dir()
    doc = json.loads((out_dir / f"{name}.json").read_text())
    config = config_from_jsonable(module.Config, doc["config"])
    return module, config, from_jsonable(doc["results"]), doc
