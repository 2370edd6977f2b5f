"""kl-lab CLI: list, run, check, exit codes and messages."""

import subprocess
import sys
import textwrap

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
    from kl_lab import experiment
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
        raise SystemExit(experiment.main(__file__))
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
