"""The README stays true: its example experiment runs and passes, its commands exist."""

import re
from pathlib import Path

from kl_lab import cli
from kl_lab import experiment as exp_lib
from kl_lab.checks import assert_checks

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_two_setup_commands_come_first():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make figures")
    assert first_block.splitlines()[1].startswith("make test")
    makefile = (ROOT / "Makefile").read_text()
    for target in ("figures:", "test:", "bench:", "lint:"):
        assert target in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_example_theory_check_runs(tmp_path):
    section = README.split("## Adding a theory check", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "jensen_example.py"
    path.write_text(code)
    module = exp_lib.load(path)
    rec = exp_lib.run_experiment(module, quick=True, out=tmp_path / "out")
    assert_checks(rec.checks)
    assert (tmp_path / "out" / "jensen_example.png").exists()


def test_gallery_figures_exist_and_cover_every_experiment():
    listed = re.findall(r"!\[\]\((paper_figures/[\w]+\.png)\)", README)
    for rel in listed:
        assert (ROOT / rel).exists(), rel
    names = {Path(p).stem for p in listed}
    missing = set(exp_lib.list_experiments()) - names
    assert not missing, f"experiments without a gallery entry in README.md: {sorted(missing)}"


def test_cli_parser_knows_readme_commands():
    parser = cli.build_parser()
    for line in ("list", "run bernoulli_bounds", "run all --quick", "check --quick"):
        parser.parse_args(line.split())


def test_gallery_counts_checks_by_origin_as_saved():
    """Each gallery row states its experiment's saved checks: passed/total and the count per origin."""
    import json

    rows = re.findall(
        r"^\| !\[\]\(paper_figures/(\w+)\.png\) \|.*<sub>checks (\d+)/(\d+) pass — (.*?)</sub> \|$", README, re.M
    )
    assert {r[0] for r in rows} == set(exp_lib.list_experiments()), "every gallery row carries its check counts"
    for name, passed, total, parts in rows:
        doc = json.loads((ROOT / "paper_figures" / f"{name}.json").read_text())
        assert (int(passed), int(total)) == (sum(c["passed"] for c in doc["checks"]), len(doc["checks"])), name
        stated = {k: int(v) for k, v in (p.split() for p in parts.split(" · "))}
        saved = {}
        for c in doc["checks"]:
            saved[c["origin"]] = saved.get(c["origin"], 0) + 1
        assert stated == saved, f"{name}: README says {stated}, {name}.json has {saved}"


def test_founding_listing_table_covers_26_papers_with_existing_experiments():
    """Issue: every paper of the founding listing appears with its experiments (or its honest sentence)."""
    table = README.split("<!-- LISTING -->", 1)[1].split("<!-- /LISTING -->", 1)[0]
    rows = [r for r in table.strip().splitlines()[2:] if r.startswith("| ")]
    assert len(rows) == 26, len(rows)
    known = set(exp_lib.list_experiments())
    for row in rows:
        named = re.findall(r"`(\w+)`", row.split("|")[2])
        assert named, row
        assert set(named) <= known, (row, set(named) - known)
