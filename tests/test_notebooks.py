"""Every notebook in notebooks/ executes top to bottom (outputs are stripped in the repo)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: store notebooks without outputs"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("KL_LAB_PROGRESS", "0")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()


def test_notebooks_exist():
    assert any(p.stem == "00_quickstart" for p in NOTEBOOKS)
