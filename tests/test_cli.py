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
    '''
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
    '''
)


def test_failing_check_exits_1(tmp_path, monkeypatch, capsys):
    d = tmp_path / "exps"
    d.mkdir()
    (d / "broken_claim.py").write_text(FAILING)
    monkeypatch.setenv("KL_LAB_EXPERIMENTS", str(d))
    assert cli.main(["check", "--quick", "--out", str(tmp_path / "out")]) == 1
    assert "FAIL" in capsys.readouterr().out
    # the same experiment as a script
    r = subprocess.run([sys.executable, str(d / "broken_claim.py"), "--quick", "--out", str(tmp_path / "o2")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "always_fails" in r.stdout


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "kl_lab.cli", "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "bernoulli_bounds" in r.stdout
