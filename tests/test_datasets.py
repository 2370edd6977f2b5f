"""kl_lab.datasets: the shipped UCI files are UCI's bytes, and the loaders read them faithfully."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from kl_lab.datasets import FILES, data_path, load_abalone, load_wine_quality, sha256

DATA = Path(__file__).resolve().parents[1] / "kl_lab" / "datasets" / "data"


@pytest.mark.parametrize("name", sorted(FILES))
def test_sha256_matches_readme_and_registry(name):
    # the README's table is the record (copied from ../shared/data/README.md, verified against UCI's downloads)
    readme = (DATA / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
    assert re.search(r"`([0-9a-f]{64})`", row).group(1) == FILES[name][1]
    assert sha256(name) == FILES[name][1] == hashlib.sha256((DATA / name).read_bytes()).hexdigest()


def test_data_path_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        data_path("wine.csv")
    with pytest.raises(ValueError, match="color must be one of"):
        load_wine_quality("rose")


@pytest.mark.parametrize("color, n, sugar_mean", [("red", 1599, 2.5388), ("white", 4898, 6.3914)])
def test_wine_quality_against_readme_statistics(color, n, sugar_mean):
    w = load_wine_quality(color)
    assert w.features.shape == (n, 11) and w.target.shape == (n,)
    assert w.feature_names[3] == "residual sugar" and w.target_name == "quality"
    # README's verified means are rounded to 4 decimals
    assert abs(w.features[:, 3].mean() - sugar_mean) < 5e-5
    counts = {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18} if color == "red" else None
    if counts:
        assert {int(k): int(v) for k, v in zip(*np.unique(w.target, return_counts=True))} == counts


def test_abalone_against_readme_statistics():
    a = load_abalone()
    assert a.features.shape == (4177, 7) and a.feature_names[0] == "Length"
    assert [int(np.sum(a.sex == i)) for i in range(3)] == [1528, 1307, 1342]  # M, F, I
    assert abs(a.rings.mean() - 9.9337) < 5e-5 and a.rings.min() == 1 and a.rings.max() == 29
    assert int(np.sum(a.features[:, 2] == 0)) == 2  # the two zero heights of the original


def test_loaders_return_copies():
    a = load_abalone()
    a.features[:] = 0
    assert load_abalone().features[0, 0] == 0.455
