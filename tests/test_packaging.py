"""The package as installed: what the wheel holds, where an installed ``kl-lab`` finds its experiments and
data and writes its outputs, and the message when it finds no experiment.

The slow test builds the wheel from a copy of the sources (nothing is written into the clone), installs it
without dependencies into a fresh virtual environment that borrows this environment's packages, and runs
``kl-lab`` there from a folder outside the clone. No network: the build uses this environment's setuptools.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from kl_lab import cli
from kl_lab import experiment as exp_lib
from kl_lab.datasets import FILES

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXPERIMENTS = sorted(p.name for p in (ROOT / "experiments").glob("*.py"))
DATA = sorted(p.name for p in (ROOT / "kl_lab" / "datasets" / "data").iterdir() if p.is_file())


def test_pyproject_lists_every_subpackage_and_the_experiments():
    st = PYPROJECT["tool"]["setuptools"]
    dirs = [ROOT / "kl_lab", *(p for p in (ROOT / "kl_lab").rglob("*") if p.is_dir())]
    expected = {
        ".".join(d.relative_to(ROOT).parts)
        for d in dirs
        if d.name.isidentifier() and d.name != "__pycache__" and not d.name.startswith(".")
    }
    missing = sorted(expected - set(st["packages"]))
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml, or they are not installed"
    assert exp_lib.INSTALLED_EXPERIMENTS in st["packages"]
    assert st["package-dir"] == {exp_lib.INSTALLED_EXPERIMENTS: "experiments"}
    assert isinstance(PYPROJECT["project"]["license"], str)  # an SPDX expression, not the deprecated table


def test_experiments_need_no_file_outside_the_package():
    """Installed, an experiment is a module in site-packages: nothing it reads may live beside the clone."""
    for name in EXPERIMENTS:
        for i, line in enumerate((ROOT / "experiments" / name).read_text().splitlines(), 1):
            if "__file__" in line:
                assert re.fullmatch(r"\s*raise SystemExit\(cli\.run_script\(__file__\)\)", line), f"{name}:{i}"
            assert "../" not in line and "shared/" not in line, f"{name}:{i}: {line.strip()}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_closure() -> set[str]:
    """kl-lab's runtime dependencies (no extras) and theirs, as installed here."""
    seen, todo = set(), list(PYPROJECT["project"]["dependencies"])
    while todo:
        req = todo.pop()
        if "extra ==" in req:
            continue
        name = _norm(re.match(r"[A-Za-z0-9._-]+", req).group())
        if name not in seen:
            seen.add(name)
            try:
                todo += metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                pass
    return seen


def test_experiment_imports_are_runtime_dependencies():
    """What an installed experiment imports is installed with kl-lab, not only with its dev extra."""
    closure, dists = _runtime_closure(), metadata.packages_distributions()
    missing: dict[str, set[str]] = {}
    for name in EXPERIMENTS:
        for node in ast.walk(ast.parse((ROOT / "experiments" / name).read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            for top in {m.split(".")[0] for m in mods} - set(sys.stdlib_module_names) - {"kl_lab", "__future__"}:
                for dist in dists.get(top, [top]):
                    if _norm(dist) not in closure:
                        missing.setdefault(_norm(dist), set()).add(name)
    assert not missing, f"experiments import packages that are not runtime dependencies: {missing}"


def test_experiments_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("KL_LAB_EXPERIMENTS", raising=False)
    assert exp_lib.source_root() == ROOT
    assert exp_lib.experiments_dir() == ROOT / "experiments"  # the clone: a new file there counts at once
    assert exp_lib.default_out_dir(quick=True) == ROOT / "paper_figures" / "quick"

    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(tmp_path))
    assert exp_lib.experiments_dir() == tmp_path
    assert str(tmp_path) in exp_lib.experiments_location()
    monkeypatch.delenv("KL_LAB_EXPERIMENTS")

    # installed: the package kl_lab_experiments (this environment's editable install maps it to experiments/)
    monkeypatch.setattr(exp_lib, "source_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert exp_lib.default_out_dir() == tmp_path / "paper_figures"
    if importlib.util.find_spec(exp_lib.INSTALLED_EXPERIMENTS) is not None:  # not when run without installing
        installed = exp_lib.experiments_dir()
        assert "installed package kl_lab_experiments" in exp_lib.experiments_location()
        assert {p.name for p in installed.glob("*.py")} >= set(EXPERIMENTS) - {"__init__.py"}

    monkeypatch.setattr(exp_lib, "_installed_experiments", lambda: None)
    assert exp_lib.list_experiments() == []
    assert exp_lib.experiments_location().startswith("nowhere")


@pytest.mark.parametrize("argv", [["list"], ["run", "bon_kl", "--quick"], ["check"]])
def test_no_experiments_found_says_where_it_looked(argv, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(tmp_path))
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert f"no experiments found; looked in {tmp_path}" in captured.err
    assert captured.out == ""


def _run(cmd, timeout, **kw):
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    print(f"{time.perf_counter() - t0:5.1f} s  {' '.join(map(str, cmd))[:100]}")
    return r


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_clone():
    with tempfile.TemporaryDirectory(prefix="kl_lab_wheel_") as tmp:
        tmp = Path(tmp)
        src, dist, venv, work = tmp / "src", tmp / "dist", tmp / "venv", tmp / "work"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, src / name)
        for name in ("kl_lab", "experiments"):
            shutil.copytree(ROOT / name, src / name, ignore=ignore)

        # the PEP 517 hook pip calls, with this environment's setuptools (no build isolation, no network)
        hook = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
        r = _run([sys.executable, "-c", hook, dist], 180, cwd=src)
        assert "DeprecationWarning" not in r.stderr, r.stderr
        (wheel,) = dist.glob("kl_lab-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
        want = {f"kl_lab_experiments/{n}" for n in EXPERIMENTS} | {f"kl_lab/datasets/data/{n}" for n in DATA}
        want |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "kl_lab").rglob("*.py")}
        assert not want - names, sorted(want - names)

        # a bare environment holding only the wheel; pip runs from here against it, then a .pth lends it this
        # environment's packages (after the install, so pip sees no other kl-lab and touches nothing here)
        _run([sys.executable, "-m", "venv", "--without-pip", venv], 120)
        vpy = venv / "bin" / "python"
        pip = [sys.executable, "-m", "pip", "--python", vpy, "install", "--no-deps", "--no-index", "--no-compile"]
        # without PYTHONPATH: a clone on it (with an egg-info there) would make pip think kl-lab already installed
        clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        _run([*pip, "--disable-pip-version-check", "--quiet", wheel], 180, env=clean)
        where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        purelib = Path(_run([vpy, "-c", where], 60).stdout.strip())
        borrowed = [p for p in (*site.getsitepackages(), site.getusersitepackages()) if Path(p).is_dir()]
        (purelib / "_kl_lab_test_env.pth").write_text("\n".join(borrowed) + "\n")

        work.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("KL_LAB_EXPERIMENTS", "PYTHONPATH", "PYTHONHOME")}
        env.update(MPLBACKEND="Agg", KL_LAB_PROGRESS="0", JAX_PLATFORMS="cpu")
        probe = (
            "import kl_lab, kl_lab.datasets as d, kl_lab.experiment as e; "
            "print(kl_lab.__file__, e.experiments_dir(), e.source_root(), d.sha256('abalone.csv'), sep='\\n')"
        )
        lines = _run([vpy, "-c", probe], 120, cwd=work, env=env).stdout.split("\n")
        assert Path(lines[0]).resolve().is_relative_to(purelib.resolve()), lines  # the installed copy, not the clone
        assert Path(lines[1]).resolve() == (purelib / exp_lib.INSTALLED_EXPERIMENTS).resolve(), lines
        assert lines[2] == "None", lines  # kl_lab knows it is installed
        assert lines[3] == FILES["abalone.csv"][1]  # the data, read through importlib.resources

        kl_lab_cmd = venv / "bin" / "kl-lab"
        listed = _run([kl_lab_cmd, "list"], 300, cwd=work, env=env).stdout
        for name in exp_lib.list_experiments():
            assert re.search(rf"^{name}\s", listed, re.M), f"{name} missing from the installed `kl-lab list`"
        r = _run([kl_lab_cmd, "check", "--quick", "bernoulli_bounds"], 300, cwd=work, env=env)
        assert "0 failed" in r.stdout
        _run([kl_lab_cmd, "run", "bernoulli_bounds", "--quick", "--quiet"], 300, cwd=work, env=env)
        written = {p.name for p in (work / "paper_figures" / "quick").iterdir()}
        assert {"bernoulli_bounds.json", "bernoulli_bounds.png"} <= written, written  # a quick run writes no PDF
        assert not list(venv.rglob("paper_figures")), "an installed run wrote into its environment"
