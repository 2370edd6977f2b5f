"""Every mutant in tests/mutants.py is caught by the experiment checks of its topic (issue: checks that can
fail). Each mutant runs in its own process (the patch must not leak, and compiled programs must be traced
anew). Run by ``make mutants`` (``KL_LAB_MUTANTS=1``), which CI runs after ``make test``."""

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


@pytest.mark.parametrize("experiment", sorted({e for m in mutants.MUTANTS for e in m.experiments}))
def test_unmutated_experiment_passes(experiment):
    """The baseline: without a mutant every check passes, so a failure under a mutant is the mutant's doing."""
    failed = _run("none", experiment)
    assert not any(failed.values()), f"checks fail without a mutant: {failed}"


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS])
def test_mutant_is_caught(name):
    m = mutants.BY_NAME[name]
    failed = _run(name)
    assert any(failed.values()), f"mutant {name} ({m.what}) passed every check of {', '.join(m.experiments)}"
