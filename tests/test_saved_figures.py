"""The committed figures agree with the code: re-evaluating each experiment's ``checks()`` on the results
saved in ``paper_figures/<name>.json`` gives the saved check names and outcomes, and every saved check says
whose claim it is (its ``origin``).

This is the guard against a stale figure: change an experiment's checks and forget to regenerate its JSON,
and this test fails. (It does not rerun the simulation: that is ``make figures``.)
"""

import json
from pathlib import Path

import jax
import pytest

from kl_lab import experiment as exp_lib
from kl_lab.checks import ORIGINS

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
SAVED = sorted(p.stem for p in FIGURES.glob("*.json") if p.stem in set(exp_lib.list_experiments()))


def test_every_experiment_has_a_saved_figure():
    assert set(SAVED) == set(exp_lib.list_experiments())


@pytest.mark.parametrize("name", SAVED)
def test_saved_checks_match_code(name):
    module, config, results, doc = exp_lib.load_saved(name)
    with jax.numpy_rank_promotion("allow"):
        now = list(module.checks(results, config))
    saved = {c["name"]: c["passed"] for c in doc["checks"]}
    assert [c.name for c in now] == [c["name"] for c in doc["checks"]], "check names differ from the saved JSON"
    assert {c.name: c.passed for c in now} == saved
    for c in now:
        assert c.origin in ORIGINS, f"{name}/{c.name}: origin {c.origin!r} is not one of {ORIGINS}"
        assert c.origin_detail, f"{name}/{c.name}: the origin must say where"


@pytest.mark.parametrize("name", SAVED)
def test_saved_checks_carry_origin(name):
    doc = json.loads((FIGURES / f"{name}.json").read_text())
    for c in doc["checks"]:
        assert c.get("origin") in ORIGINS, f"{name}/{c['name']}: saved origin {c.get('origin')!r}"
