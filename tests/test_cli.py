"""kl-lab CLI: list, run, check, exit codes and messages."""

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kl_lab import cli
from kl_lab import experiment as exp_lib


def test_list_shows_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in exp_lib.list_experiments():
        assert name in out


def test_unknown_name_exit_2_with_suggestion(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["check", "bernouli_bound", "--quick"])
    assert e.value.code == 2
    assert "Did you mean: bernoulli_bounds" in capsys.readouterr().err


def test_run_without_names_is_usage_error():
    assert cli.main(["run"]) == 2


def test_check_passes_and_prints_table(tmp_path, capsys):
    assert cli.main(["check", "bernoulli_bounds", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pinsker_holds" in out and "failed" in out.splitlines()[-1]


FAILING = textwrap.dedent(
    """
    import dataclasses
    from kl_lab import cli, experiment
    from kl_lab.checks import check
    TITLE, CLAIM, RUNTIME = "t", "c", "1 s"
    PAPER = experiment.Paper("A", 2000, "0000.00000")
    @dataclasses.dataclass(frozen=True)
    class Config:
        x: float = 1.0
        @classmethod
        def quick(cls):
            return cls()
    def run(config, key):
        return {"x": config.x}
    def plot(results, config):
        from kl_lab import plotting
        return plotting.subplots()[0]
    def checks(results, config):
        return [check("always_fails", claim="1 = 2", source="s", kind="abs", predicted=2.0,
                      measured=float(results["x"]), tolerance=0.0, reason="exact")]
    if __name__ == "__main__":
        raise SystemExit(cli.run_script(__file__))
    """
)


def test_failing_check_exits_1(tmp_path, monkeypatch, capsys):
    d = tmp_path / "exps"
    d.mkdir()
    (d / "broken_claim.py").write_text(FAILING)
    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(d))
    assert cli.main(["check", "--quick", "--out", str(tmp_path / "out")]) == 1
    assert "FAIL" in capsys.readouterr().out
    # the same experiment as a script
    r = subprocess.run(
        [sys.executable, str(d / "broken_claim.py"), "--quick", "--out", str(tmp_path / "o2")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "always_fails" in r.stdout


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "kl_lab.cli", "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "bernoulli_bounds" in r.stdout


SLOW = textwrap.dedent(
    """
    import dataclasses, sys, time
    import numpy as np
    import jax.numpy as jnp
    from kl_lab import experiment
    from kl_lab.checks import check
    from kl_lab.sweep import sweep
    TITLE, CLAIM, RUNTIME = "slow", "squares", "3 s"
    PAPER = experiment.Paper("A", 2000, "0000.00000")
    @dataclasses.dataclass(frozen=True)
    class Config:
        n: int = 12
        @classmethod
        def quick(cls):
            return cls()
    def _report(i, n, cached):
        print(f"chunk {i} cached={cached}", file=sys.stderr, flush=True)
        time.sleep(0.4)
    def run(config, key):
        x = np.arange(config.n, dtype=float)
        return sweep(lambda p: {"y": p["x"] ** 2}, {"x": x}, chunk_size=1, name="sq", callback=_report)
    def plot(results, config):
        from kl_lab import plotting
        return plotting.subplots()[0]
    def checks(results, config):
        return [check("squares", claim="y = x^2", source="s", kind="abs", measured=results["y"],
                      predicted=np.arange(config.n, dtype=float) ** 2, tolerance=0.0, reason="exact in float64")]
    """
)


def test_kill_minus_9_then_rerun_resumes(tmp_path):
    import os
    import signal
    import time

    d = tmp_path / "exps"
    d.mkdir()
    (d / "slow_squares.py").write_text(SLOW)
    env = dict(os.environ, KL_LAB_EXPERIMENTS=str(d))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kl_lab.cli", "run", "slow_squares", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.rglob("chunk_*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in out.rglob("chunk_*.npz"))
    assert 3 <= len(done_before) < 12, done_before
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cached = [line for line in r.stderr.splitlines() if "cached=True" in line]
    assert len(cached) == len(done_before)  # every chunk finished before the kill is read back, not recomputed
    assert "squares" in r.stdout and "1 passed, 0 failed" in r.stdout


# an experiment with one field of every type --set parses, a 3-chunk sweep and checks of two origins
TYPED = textwrap.dedent(
    """
    import dataclasses

    import numpy as np

    from kl_lab import cli, experiment, plotting
    from kl_lab.checks import check
    from kl_lab.sweep import sweep

    TITLE, CLAIM, RUNTIME = "typed", "x + 1 > x", "1 s"
    PAPER = experiment.Paper("Doe", 2001, "0101.00001", where="Thm 2")


    @dataclasses.dataclass(frozen=True)
    class Config:
        n: int = 6
        scale: float = 1.0
        flag: bool = False
        label: str = "a"
        xs: tuple[float, ...] = (1.0, 2.0)
        pair: tuple[int, float] = (1, 0.5)
        points: tuple[tuple[float, float], ...] = ((0.1, 0.2),)

        @classmethod
        def quick(cls):
            return cls(n=3)


    def run(config, key):
        x = np.arange(config.n, dtype=float) * config.scale
        return {"x": x, **sweep(lambda p: {"y": p["x"] + 1.0}, {"x": x}, chunk_size=1, name="plus")}


    def plot(results, config):
        return plotting.subplots()[0]


    def checks(results, config):
        kw = dict(claim=CLAIM, source="s", kind="bound", direction="lower", tolerance=0.5,
                  reason="exact: y - x = 1 in float64")
        return [check("law_check", predicted=results["x"] + 0.5, measured=results["y"], origin="law", **kw),
                check("paper_check", predicted=results["x"], measured=results["y"], origin="paper", **kw)]


    if __name__ == "__main__":
        raise SystemExit(cli.run_script(__file__))
    """
)


@pytest.fixture
def typed(tmp_path, monkeypatch):
    d = tmp_path / "exps"
    d.mkdir()
    (d / "typed_demo.py").write_text(TYPED)
    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(d))
    return d


def test_parse_overrides_types_from_the_config(typed):
    cfg = exp_lib.load("typed_demo").Config
    got = exp_lib.parse_overrides(
        cfg, ["n=7", "scale=2.5", "flag=true", "label=b=c", "xs=1,2,3", "pair=4,0.25", "points=0.1,0.2;1,2"]
    )
    assert got == {
        "n": 7,
        "scale": 2.5,
        "flag": True,
        "label": "b=c",
        "xs": (1.0, 2.0, 3.0),
        "pair": (4, 0.25),
        "points": ((0.1, 0.2), (1.0, 2.0)),
    }
    assert type(got["n"]) is int and type(got["xs"][0]) is float and type(got["pair"][0]) is int
    for bad, expected in (("nn=1", "Did you mean: n"), ("n=abc", "expects int"), ("flag=maybe", "expects bool"),
                          ("pair=1,2,3", "expects"), ("n", "FIELD=VALUE")):  # fmt: skip
        with pytest.raises(exp_lib.ConfigOverrideError, match=expected) as e:
            exp_lib.parse_overrides(cfg, [bad])
        assert "Fields: n=6, scale=1.0" in str(e.value)


def test_set_is_recorded_in_the_json_and_bad_set_exits_2(typed, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "typed_demo", "--quick", "--set", "scale=2", "--set", "xs=3,4", "--out", str(out)]) == 0
    doc = json.loads((out / "typed_demo.json").read_text())
    assert doc["overrides"] == {"scale": 2.0, "xs": [3.0, 4.0]}
    assert doc["config"]["scale"] == 2.0 and doc["config"]["n"] == 3  # quick preset, then the override
    assert doc["results"]["x"] == [0.0, 2.0, 4.0]
    capsys.readouterr()
    assert cli.main(["check", "typed_demo", "--quick", "--set", "scael=2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean: scale" in err and "Fields: n=6" in err
    assert cli.main(["run", "typed_demo", "--set", "n=1.5", "--out", str(out)]) == 2
    assert "field 'n' expects int" in capsys.readouterr().err
    r = subprocess.run(
        [sys.executable, str(typed / "typed_demo.py"), "--quick", "--set", "nope=1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "has no field 'nope'" in r.stderr, (r.returncode, r.stderr)


def test_progress_goes_to_a_non_terminal_stderr_unless_quiet(typed, tmp_path, capsys, monkeypatch):
    from kl_lab import sweep as sweep_lib

    monkeypatch.setattr(sweep_lib, "PROGRESS_INTERVAL_S", 0.0)  # a line for every chunk, however fast
    args = ["check", "typed_demo", "--quick", "--out", str(tmp_path / "out")]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("[plus]")]
    assert [line.split(" chunks")[0] for line in lines] == ["[plus] 1/3", "[plus] 2/3", "[plus] 3/3"], err
    assert all("ETA" in line for line in lines) and "\r" not in err
    assert cli.main([*args, "--quiet"]) == 0
    assert "[plus]" not in capsys.readouterr().err
    monkeypatch.setenv("KL_LAB_PROGRESS", "0")
    assert cli.main(args) == 0
    assert "[plus]" not in capsys.readouterr().err


def test_crash_exits_3_and_the_others_still_run(typed, tmp_path, capsys):
    (typed / "a_crashing.py").write_text(TYPED.replace("x = np.arange", "x = 1 / 0 + np.arange"))
    assert cli.main(["check", "--quick", "--quiet", "--out", str(tmp_path / "out")]) == 3
    cap = capsys.readouterr()
    assert "Traceback" in cap.err and "ZeroDivisionError" in cap.err and "a_crashing" in cap.err
    assert "law_check" in cap.out  # typed_demo ran after the crash


def test_check_writes_figures_only_with_save_and_filters_by_origin(typed, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["check", "typed_demo", "--quick", "--fresh", "--out", str(out)]) == 0
    assert not list(out.glob("typed_demo.*")), sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    assert cli.main(["check", "typed_demo", "--quick", "--save", "--origin", "law", "--out", str(out)]) == 0
    assert {p.suffix for p in out.glob("typed_demo.*")} == {".png", ".json"}  # a quick run writes no PDF
    table = capsys.readouterr().out
    assert "law_check" in table and "paper_check" not in table


def test_written_files_respect_the_umask(tmp_path):
    from kl_lab import plotting
    from kl_lab.sweep import atomic_write_bytes

    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        paths = plotting.save(plotting.subplots()[0], tmp_path / "fig")
    finally:
        os.umask(old)
    for p in [tmp_path / "a.json", *map(Path, paths.values())]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == 0o640, f"{p.name}: mode {oct(mode)}, expected 0o640 (0o666 & ~umask 0o027)"


def test_show_prints_claim_paper_config_and_saved_checks(typed, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["show", "typed_demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for expected in ("x + 1 > x", "Doe (2001), arXiv:0101.00001, Thm 2", "scale", "1.0", "no saved results"):
        assert expected in text, (expected, text)
    row = next(line for line in text.splitlines() if line.startswith("n "))
    assert row.split() == ["n", "6", "3"], row  # the default and the quick preset's value
    assert cli.main(["run", "typed_demo", "--quick", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["show", "typed_demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "last saved results" in text and "law_check" in text and "paper_check" in text and "pass" in text
    with pytest.raises(SystemExit) as e:
        cli.main(["show", "typed_dem"])
    assert e.value.code == 2


def _readme_example() -> tuple[str, str]:
    section = (Path(__file__).resolve().parents[1] / "README.md").read_text().split("## Adding a theory check", 1)[1]
    section = section.split("\n## ", 1)[0]
    return section, re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_a_clean_experiment_file(tmp_path, monkeypatch):
    """Copied into experiments/, the README's example must lint, format, run and pass, and the README must say
    what else the test suite asks of a new experiment (its gallery entry)."""
    section, code = _readme_example()
    d = tmp_path / "exps"
    d.mkdir()
    (d / "readme_example.py").write_text(code)
    root = Path(__file__).resolve().parents[1]
    ruff = str(Path(sys.executable).with_name("ruff"))
    as_if = ["--stdin-filename", "experiments/readme_example.py"]  # linted as a file of experiments/ (first party)
    for cmd in ([ruff, "check", *as_if], [ruff, "format", "--check", "--diff", *as_if]):
        r = subprocess.run(cmd, input=code, cwd=root, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"ruff {cmd[1]} on the README example:\n{r.stdout}{r.stderr}"
    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(d))
    assert cli.main(["check", "readme_example", "--quick", "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert "gallery" in section and "paper_figures/<name>.png" in section, "README must name the gallery entry"


def test_distributed_without_a_coordinator_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    r = subprocess.run(
        [sys.executable, "-m", "kl_lab.cli", "check", "bernoulli_bounds", "--quick", "--distributed"],
        env=dict(env, JAX_PLATFORMS="cpu"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "JAX_COORDINATOR_ADDRESS" in r.stderr, (r.returncode, r.stderr[-2000:])
