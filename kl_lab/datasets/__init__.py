"""Small real data sets used by the experiments, shipped with their citation and licence (``data/README.md``).

Example:
  >>> from kl_lab.datasets import FILES, load_abalone
  >>> sorted(FILES), len(load_abalone().rings)
  (['abalone.csv', 'winequality-red.csv', 'winequality-white.csv'], 4177)
"""

from kl_lab.datasets.uci import (
    ABALONE_SEX_CODES,
    FILES,
    Abalone,
    WineQuality,
    data_path,
    load_abalone,
    load_wine_quality,
    sha256,
)

__all__ = [
    "ABALONE_SEX_CODES",
    "FILES",
    "Abalone",
    "WineQuality",
    "data_path",
    "load_abalone",
    "load_wine_quality",
    "sha256",
]
