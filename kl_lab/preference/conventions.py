r"""Conventions that differ between papers and kl_lab, stated once, with conversions.

**Directions of KL.** kl_lab names a directed KL by its arguments, model first or target first:

* ``reverse KL`` = $\mathrm{KL}(\text{model} \,\|\, \text{target})$ -- $\mathrm{KL}(\pi \,\|\, p)$ in f-DPG
  (Go et al., arXiv 2302.08215v2, where it is the RLHF objective), $\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}})$ in
  f-DPO (Wang et al., arXiv 2309.16240v1, "reverse KL" = DPO); the f-generator is $f(u) = u \log u$ (kl_lab's
  ``generators.kl``) in $D_f(\pi \,\|\, \text{target})$;
* ``forward KL`` = $\mathrm{KL}(\text{target} \,\|\, \text{model})$ -- $\mathrm{KL}(p \,\|\, \pi)$ in f-DPG
  (DPG/GDC), $\mathrm{KL}(\pi_{\mathrm{ref}} \,\|\, \pi)$ in f-DPO; generator $f(u) = -\log u$ (kl_lab's
  ``generators.reverse_kl``: the *generator* is named after the divergence it gives in $D_f(p \,\|\, q)$ with $p$
  first, the opposite reading).

Every experiment label of a directed KL is ``"<direction> KL(<first>‖<second>)"`` (:func:`kl_label`), with
``direction`` one of :data:`KL_DIRECTIONS`; ``tests/test_direction_names.py`` checks it against the generator
actually used.

**f-DPO's divergences** (Wang et al. 2309.16240v1, Table 1) against kl_lab's generators:

* Jensen-Shannon: f-DPO's $f(u) = u \log u - (u + 1) \log((u + 1) / 2)$, $f'(u) = \log(2u / (1 + u))$; kl_lab's
  ``js`` is half of it (weights 1/2), so f-DPO at $\beta$ is kl_lab's JS at $2 \beta$
  (:func:`kl_lab_beta`);
* $\alpha$-divergence: f-DPO's $f'(u) = (1 - u^{-\alpha}) / \alpha$ is kl_lab's ``amari_alpha(a)`` with
  $a = 1 - \alpha$ (:func:`kl_lab_amari_a`); the two agree only at $\alpha = a = 1/2$.
"""

from __future__ import annotations

from kl_lab.divergences import generators as G
from kl_lab.divergences.generators import Generator

__all__ = ["KL_DIRECTIONS", "kl_label", "kl_generator", "kl_lab_amari_a", "kl_lab_beta", "fdpo_generator"]

#: direction name -> which argument comes first in KL(. || .)
KL_DIRECTIONS = {"reverse KL": "model", "forward KL": "target"}


def kl_label(direction: str, model: str = "pi", target: str = "p") -> str:
    r"""``"reverse KL(pi‖p)"`` or ``"forward KL(p‖pi)"``: a directed KL named by its arguments.

    Reverse KL is $\mathrm{KL}(\pi\|p)$ (model first), forward KL is $\mathrm{KL}(p\|\pi)$ (target first).

    Args:
      direction: ``'reverse KL'`` or ``'forward KL'``.
      model: symbol of the model.
      target: symbol of the target.

    Example:
      >>> kl_label("forward KL", target="pi_ref")
      'forward KL(pi_ref‖pi)'
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"direction must be one of {tuple(KL_DIRECTIONS)}; got {direction!r}")
    first, second = (model, target) if KL_DIRECTIONS[direction] == "model" else (target, model)
    return f"{direction}({first}‖{second})"


def kl_generator(direction: str) -> Generator:
    r"""The generator $f$ with $D_f(\text{model}\|\text{target})$ equal to the named directed KL.

    Reverse KL: $f(u) = u\log u$ (``generators.kl``); forward KL: $f(u) = -\log u$ (``generators.reverse_kl``).

    Args:
      direction: ``'reverse KL'`` or ``'forward KL'`` (a name of :data:`KL_DIRECTIONS`).

    Example:
      >>> kl_generator("reverse KL").name == G.kl.name
      True
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"direction must be one of {tuple(KL_DIRECTIONS)}; got {direction!r}")
    return G.kl if direction == "reverse KL" else G.reverse_kl


def kl_lab_amari_a(fdpo_alpha: float) -> float:
    r"""f-DPO's $\alpha$-divergence parameter $\to$ the $a$ of kl_lab's ``amari_alpha(a)``: $a = 1 - \alpha$.

    Wang et al. (2309.16240v1, Table 1): $f'(u) = (1 - u^{-\alpha})/\alpha$; checked at several $\alpha$ and
    $\beta$ in ``experiments/fdpo_mapping.py``.

    Args:
      fdpo_alpha: f-DPO's ``alpha`` (real).

    Example:
      >>> kl_lab_amari_a(0.3)
      0.7
    """
    return 1.0 - float(fdpo_alpha)


def kl_lab_beta(fdpo_beta: float, divergence: str) -> float:
    r"""The $\beta$ to use with kl_lab's generator so that $\beta' f'_{\text{kl\_lab}} = \beta f'_{\text{f-DPO}}$.

    Jensen–Shannon: kl_lab's generator is half of f-DPO's, so $\beta' = 2\beta$;
    every other divergence: $\beta' = \beta$.

    Args:
      fdpo_beta: f-DPO's ``beta > 0``.
      divergence: f-DPO's divergence name (e.g. ``'Jensen-Shannon'``).

    Example:
      >>> kl_lab_beta(0.1, "Jensen-Shannon"), kl_lab_beta(0.1, "alpha")
      (0.2, 0.1)
    """
    if divergence not in ("reverse KL", "forward KL", "Jensen-Shannon", "alpha"):
        raise ValueError(f"unknown f-DPO divergence {divergence!r}")
    return 2.0 * fdpo_beta if divergence == "Jensen-Shannon" else float(fdpo_beta)


def fdpo_generator(divergence: str, alpha: float | None = None) -> Generator:
    r"""kl_lab's generator for f-DPO's named divergence (use with :func:`kl_lab_beta`).

    ``"alpha"`` needs ``alpha`` and maps to ``amari_alpha(1 - alpha)`` (:func:`kl_lab_amari_a`).

    Example:
      >>> fdpo_generator("Jensen-Shannon").name == G.js.name
      True
    """
    if divergence == "alpha":
        if alpha is None:
            raise ValueError("the alpha-divergence needs alpha")
        return G.amari_alpha(kl_lab_amari_a(alpha))
    if divergence == "Jensen-Shannon":
        return G.js
    return kl_generator(divergence)
