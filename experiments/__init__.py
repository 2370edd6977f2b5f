"""The experiments: one file per result (DESIGN.md, "Experiments").

Installed as the package ``kl_lab_experiments`` (pyproject.toml maps this folder to it), so that an installed
``kl-lab`` finds them; :func:`kl_lab.experiment.experiments_dir` locates the folder and
:func:`kl_lab.experiment.load` loads each file by path. Nothing imports this package, and files whose name
starts with ``_`` (like this one) are not experiments.
"""
