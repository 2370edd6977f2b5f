"""Every mutant in tests/mutants.py is caught by the experiment checks of its topic (issue: checks that can
fail). Each mutant runs in its own process (the patch must not leak, and compiled programs must be traced
anew). Run by ``make mutants`` (``KL_LAB_MUTANTS=1``), which CI runs after ``make test``.

The baseline -- without a mutant every check of these experiments passes, so a failure under a mutant is the
mutant's doing -- is ``tests/test_experiments.py::test_experiment_quick_passes_checks``, which ``make test`` runs
first in the same configuration (quick preset, seed 0, float64, rank promotion allowed). It used to be repeated
here, one subprocess per experiment, which cost a third of this harness's time and tested nothing new;
``python tests/mutants.py none EXPERIMENT`` still runs it in the harness's own process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import mutants  # noqa: E402

pytestmark = pytest.mark.skipif(os.environ.get("KL_LAB_MUTANTS") != "1", reason="run by `make mutants`")

SCRIPT = Path(__file__).with_name("mutants.py")


def _run(name: str, *only: str) -> dict:
    env = dict(os.environ, KL_LAB_PROGRESS="0")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), name, *only], capture_output=True, text=True, timeout=900, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["failed"]


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS])
def test_mutant_is_caught(name):
    m = mutants.BY_NAME[name]
    failed = _run(name)
    assert any(failed.values()), f"mutant {name} ({m.what}) passed every check of {', '.join(m.experiments)}"
