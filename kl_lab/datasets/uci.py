"""UCI Wine Quality and Abalone: the two data sets of Sheena (2021), arXiv:2105.08947, shipped with kl_lab.

The CSV files in ``kl_lab/datasets/data/`` are byte-for-byte copies of UCI's originals (Abalone with one header
line prepended); ``data/README.md`` holds their sources, citations, licence (CC BY 4.0) and SHA-256 checksums,
which ``tests/test_datasets.py`` verifies. Nothing is downloaded.

* Wine Quality (Cortez et al. 2009, UCI dataset 186): ``load_wine_quality("red")`` (1599 rows) or
  ``("white")`` (4898 rows); 11 physico-chemical inputs and the integer sensory score ``quality``.
* Abalone (Nash et al. 1994, UCI dataset 1): ``load_abalone()`` (4177 rows); the category ``Sex``
  (M/F/I, coded 0/1/2 in :data:`ABALONE_SEX_CODES` order), 7 measurements and the integer ``Rings``.

The loaders return NumPy float64 arrays (data, not traced computation) and the column names; nothing is
standardised or cleaned (both wine files keep their exact-duplicate rows, abalone its two zero heights, as in
the originals).

Example:
  >>> from kl_lab.datasets import load_abalone, load_wine_quality
  >>> wine = load_wine_quality("red")
  >>> wine.features.shape, wine.target.shape, wine.feature_names[0]
  ((1599, 11), (1599,), 'fixed acidity')
  >>> ab = load_abalone()
  >>> ab.features.shape, ab.sex.shape, ab.sex_levels
  ((4177, 7), (4177,), ('M', 'F', 'I'))
"""

from __future__ import annotations

import csv
import functools
import hashlib
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = [
    "ABALONE_SEX_CODES",
    "FILES",
    "WineQuality",
    "Abalone",
    "data_path",
    "sha256",
    "load_wine_quality",
    "load_abalone",
]

#: file name -> (rows excluding the header, SHA-256), as recorded in ``data/README.md``
FILES = {
    "winequality-red.csv": (1599, "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e"),
    "winequality-white.csv": (4898, "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836"),
    "abalone.csv": (4177, "add76d88a9dd9c7a9f147dd005725ce19dbfdf352877df9d28703486742d35a2"),
}
#: the codes of Abalone's ``Sex`` column: male, female, infant
ABALONE_SEX_CODES = ("M", "F", "I")
_COLORS = ("red", "white")


class WineQuality(NamedTuple):
    """``features`` (n, 11) float64, ``target`` (n,) float64 (``quality``, integers 3..9), names, colour.

    Example:
      >>> w = load_wine_quality("white")
      >>> w.color, w.target_name, int(w.target.min()), int(w.target.max())
      ('white', 'quality', 3, 9)
    """

    features: np.ndarray
    target: np.ndarray
    feature_names: tuple[str, ...]  #: the 11 column names of features
    target_name: str
    color: str


class Abalone(NamedTuple):
    """``features`` (n, 7) float64 measurements, ``sex`` (n,) int codes into ``sex_levels``, ``rings`` (n,).

    Example:
      >>> a = load_abalone()
      >>> a.feature_names[0], sorted(set(a.sex.tolist())), int(a.rings.min())
      ('Length', [0, 1, 2], 1)
    """

    features: np.ndarray
    sex: np.ndarray
    rings: np.ndarray
    feature_names: tuple[str, ...]
    sex_levels: tuple[str, ...]


def data_path(name: str):
    """Path of a shipped data file (one of :data:`FILES`); ``ValueError`` for another name.

    Example:
      >>> data_path("abalone.csv").name
      'abalone.csv'
    """
    if name not in FILES:
        raise ValueError(f"name must be one of {tuple(FILES)}; got {name!r}")
    return resources.files("kl_lab.datasets").joinpath("data", name)


def sha256(name: str) -> str:
    """SHA-256 (hex) of a shipped data file, to compare with :data:`FILES`.

    Args:
      name: a file name of :data:`FILES`.

    Example:
      >>> sha256("winequality-red.csv") == FILES["winequality-red.csv"][1]
      True
    """
    return hashlib.sha256(data_path(name).read_bytes()).hexdigest()


def _read(name: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    text = data_path(name).read_text(encoding="ascii")
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    header, body = rows[0], rows[1:]
    if len(body) != FILES[name][0] or any(len(r) != len(header) for r in body):
        raise ValueError(f"{name} is damaged: expected {FILES[name][0]} rows of {len(header)} fields")
    return header, body


@functools.cache
def _wine(color: str) -> WineQuality:
    header, body = _read(f"winequality-{color}.csv", ";")
    values = np.asarray(body, dtype=np.float64)
    return WineQuality(values[:, :-1], values[:, -1], tuple(header[:-1]), header[-1], color)


def load_wine_quality(color: str = "red") -> WineQuality:
    """UCI Wine Quality, ``color`` ``"red"`` (n = 1599) or ``"white"`` (n = 4898); see the module docstring.

    Returns fresh copies of the arrays (callers may modify them).

    Example:
      >>> load_wine_quality("white").features.shape
      (4898, 11)
    """
    if color not in _COLORS:
        raise ValueError(f"color must be one of {_COLORS}; got {color!r}")
    w = _wine(color)
    return w._replace(features=w.features.copy(), target=w.target.copy())


@functools.cache
def _abalone() -> Abalone:
    header, body = _read("abalone.csv", ",")
    sex = np.asarray([ABALONE_SEX_CODES.index(r[0]) for r in body], dtype=np.int32)
    values = np.asarray([r[1:] for r in body], dtype=np.float64)
    return Abalone(values[:, :-1], sex, values[:, -1], tuple(header[1:-1]), ABALONE_SEX_CODES)


def load_abalone() -> Abalone:
    """UCI Abalone (n = 4177): 7 measurements, ``sex`` coded 0/1/2 = M/F/I, ``rings``; see the module docstring.

    Example:
      >>> a = load_abalone()
      >>> a.features.shape, a.sex_levels[a.sex[0]]
      ((4177, 7), 'M')
    """
    a = _abalone()
    return a._replace(features=a.features.copy(), sex=a.sex.copy(), rings=a.rings.copy())
