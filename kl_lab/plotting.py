"""One matplotlib style for every figure, and atomic PNG + PDF saving.

Sizes are for a paper column (3.4 in wide per panel) and the palette is
Okabe & Ito's colour-blind-safe set (Okabe & Ito 2008, "Color Universal Design").
:data:`theory_style` draws a theoretical prediction (a dashed black line) and :data:`sim_style` a
simulation (markers).

Example:
  >>> len(PALETTE), theory_style["linestyle"], sim_style["marker"]
  (8, '--', 'o')
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from cycler import cycler  # noqa: E402

from kl_lab.sweep import atomic_write_bytes  # noqa: E402

__all__ = ["PALETTE", "STYLE", "subplots", "save", "theory_style", "sim_style"]

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "lines.linewidth": 1.4,
    "lines.markersize": 3.5,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}

#: line style for a theoretical prediction and marker style for a simulation
theory_style = {"color": "black", "linestyle": "--", "linewidth": 1.1}
sim_style = {"marker": "o", "linestyle": "none", "markersize": 3.5}


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 3.4, height: float = 2.6, **kw):
    """``plt.subplots`` (squeezed axes) in the kl_lab style, each panel ``width`` x ``height`` inches.

    Args:
      nrows: rows of panels.
      ncols: columns of panels.
      width: panel width in inches.
      height: panel height in inches.
      kw: passed on to ``plt.subplots``.

    Example:
      >>> fig, axes = subplots(1, 2)
      >>> len(axes), [round(float(v), 1) for v in fig.get_size_inches()]
      (2, [6.8, 2.6])
      >>> plt.close(fig)
    """
    matplotlib.rcParams.update(STYLE)  # legends and text added later must use the style too
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), layout="constrained", **kw)
    return fig, axes


def save(fig, stem: str | os.PathLike, formats: tuple[str, ...] = ("png", "pdf")) -> dict[str, str]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` (or the ``formats`` given) atomically and close the figure.

    Quick runs write the PNG only (:func:`kl_lab.experiment.run_experiment`): the PDF, for papers, comes with the
    full sizes, and took half of a quick preset's ~0.9 s of figure writing.

    Example:
      >>> import tempfile
      >>> fig, ax = subplots()
      >>> _ = ax.plot([1, 2], [1, 4], **theory_style)
      >>> with tempfile.TemporaryDirectory() as d:
      ...     sorted(save(fig, Path(d) / "demo"))
      ['pdf', 'png']
    """
    stem = Path(stem)
    paths = {}
    with plt.rc_context(STYLE):
        for ext in formats:
            buf = io.BytesIO()
            # a fixed creation date keeps the PDF reproducible
            meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
            fig.savefig(buf, format=ext, metadata=meta)
            target = stem.with_suffix(f".{ext}")
            atomic_write_bytes(target, buf.getvalue())
            paths[ext] = str(target)
    plt.close(fig)
    return paths
