"""Mutation harness: deliberate errors in the library that the *experiment checks* must catch.

Each :class:`Mutant` wraps one public library function (``"module:function"``) with a deliberate error --
a coefficient, a threshold, a few per cent on a divergence, a shifted budget -- and names the experiments
of its topic. ``python tests/mutants.py NAME`` applies the mutant in a fresh process (every reference to
the original function in every loaded ``kl_lab`` and experiment module is replaced), runs those
experiments' quick presets without saving (``python tests/mutants.py none EXPERIMENT`` runs one experiment
unmutated, the baseline), and prints a JSON line: for each experiment, the checks that
failed. ``tests/test_mutants.py`` (``make mutants``, run by CI after ``make test``) asserts that every
mutant fails at least one check of an experiment of its topic; that no check fails unmutated is
``tests/test_experiments.py`` (same quick presets, seed and precision), which ``make test`` runs first.

Add a mutant: one entry in :data:`MUTANTS`. The wrapper receives the original function and returns the
mutated one; it must keep the signature and return type.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    target: str  # "package.module:function" -- where the function is defined
    wrap: Callable[[Callable], Callable]  # original -> mutated
    experiments: tuple[str, ...]  # the experiments of its topic (at least one must catch it)
    what: str  # the deliberate error, in words


def _scale(factor: float) -> Callable[[Callable], Callable]:
    def wrap(f):
        def mutated(*a, **k):
            return f(*a, **k) * factor

        return mutated

    return wrap


def _scale_field(field: str, factor: float) -> Callable[[Callable], Callable]:
    def wrap(f):
        def mutated(*a, **k):
            out = f(*a, **k)
            return out._replace(**{field: getattr(out, field) * factor})

        return mutated

    return wrap


def _offset_mean_for(estimator: str, offset: float) -> Callable[[Callable], Callable]:
    """``mc_kl``'s mean shifted by ``offset`` when called with ``estimator`` (positional or keyword)."""

    def wrap(f):
        def mutated(*a, **k):
            out = f(*a, **k)
            est = k.get("estimator", a[2] if len(a) > 2 else "k1")
            return out._replace(mean=out.mean + offset) if est == estimator else out

        return mutated

    return wrap


def _shift(offset: float) -> Callable[[Callable], Callable]:
    def wrap(f):
        def mutated(*a, **k):
            return f(*a, **k) + offset

        return mutated

    return wrap


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "kl_2pct_high",
        "kl_lab.divergences.discrete:kl",
        _scale(1.02),
        ("mode_seeking", "bon_vs_klrl"),
        "KL(p || q) 2 % too large",
    ),
    Mutant(
        "c2_coefficient",
        "kl_lab.pn_criterion.expansion:risk_coefficients",
        _scale_field("c2", 4 / 3),
        ("pn_risk_expansion",),
        "C2 scaled by 4/3 (a coefficient 3/8 -> 1/2)",
    ),
    Mutant(
        "h_kl_10pct_high",
        "kl_lab.kde.regimes:thresholds",
        _scale_field("h_kl", 1.1**0.5),
        ("kde_kl_bandwidth",),
        "h_KL^2 10 % too large",
    ),
    Mutant(
        "best_of_n_kl_2pct_high",
        "kl_lab.alignment.best_of_n:best_of_n_kl",
        _scale(1.02),
        ("bon_kl",),
        "KL(best-of-n || ref) 2 % too large",
    ),
    Mutant(
        "k3_estimate_offset",
        "kl_lab.divergences.estimators:mc_kl",
        _offset_mean_for("k3", 1e-3),
        ("kl_estimators",),
        "the Monte Carlo k3 estimate of KL off by a constant 1e-3 (a term dropped from k3's mean)",
    ),
    Mutant(
        "forward_kl_loss_3pct_high",
        "kl_lab.distillation.losses:forward_kl_loss",
        _scale(1.03),
        ("kd_mode_behaviour",),
        "the forward-KL distillation loss (and its gradient) 3 % too large",
    ),
    Mutant(
        "fdistill_weight_3pct_high",
        "kl_lab.distillation.fdistill:fdistill_weight",
        _scale(1.03),
        ("fdistill_weights",),
        "the f-distill weight h(r) = f''(r) r^2 3 % too large",
    ),
    Mutant(
        "pld_loss_3pct_high",
        "kl_lab.distillation.pld:pld_loss",
        _scale(1.03),
        ("pld_properties",),
        "the Plackett-Luce distillation loss 3 % too large",
    ),
    Mutant(
        "bdkd_gate_threshold_shifted",
        "kl_lab.distillation.bdkd:entropy_gap",
        _shift(0.01),
        ("bdkd_balance",),
        "the BD-KD entropy gate's threshold shifted by 0.01 nats (entropy gap + 0.01)",
    ),
    Mutant(
        "laplace_scale_3pct_high",
        "kl_lab.privacy.mechanisms:laplace_scale",
        _scale(1.03),
        ("ldp_mechanisms",),
        "the Laplace noise scale Delta/eps 3 % too large (the stated variance 2 b^2 follows it; the sampler does not)",
    ),
    Mutant(
        "nldp_noise_variance_for_std",
        "kl_lab.privacy.rates:nldp_coordinate_std",
        lambda f: lambda *a, **k: f(*a, **k) ** 2,
        ("ldp_regression_rates",),
        "the NLDP noise calculus returns the variance s^2/n for the std (every power doubled: n^-1, eps^-2)",
    ),
    Mutant(
        "m_projection_moment_1pct_high",
        "kl_lab.projection:m_projection",
        lambda f: lambda family, target_stats_mean, **k: f(family, 1.01 * target_stats_mean, **k),
        ("projection_pythagoras",),
        "the M-projection matches moments 1 % too large",
    ),
    Mutant(
        "h_g_10pct_high",
        "kl_lab.kde.regimes:thresholds",
        _scale_field("h_g", 1.1**0.5),
        ("kde_phase_diagram",),
        "the condensation threshold h_G^2 10 % too large",
    ),
    Mutant(
        "kl_rl_budget_5pct_low",
        "kl_lab.alignment.kl_rl:kl_rl_policy",
        lambda f: lambda log_ref, rewards, kl_budget, **k: f(log_ref, rewards, 0.95 * kl_budget, **k),
        ("bon_vs_klrl", "alignment_ldp"),
        "the KL-constrained optimum solved at a budget 5 % below the one asked for (5 % above can exceed the "
        "largest feasible budget, which the library rejects)",
    ),
    Mutant(
        "ldp_rate_3pct_high",
        "kl_lab.alignment.large_deviations:tilted_rate_function",
        _scale(1.03),
        ("alignment_ldp",),
        "the large-deviation rate function I(x) of the KL-RL optimum 3 % too large",
    ),
    Mutant(
        "filtering_kl_3pct_high",
        "kl_lab.preference.difficulty:filtering_kl",
        _scale(1.03),
        ("difficulty_filtering",),
        "the exact KL of the difficulty-filtered (tilted) policy 3 % too large",
    ),
    Mutant(
        "nash_equilibrium_beta_2pct_high",
        "kl_lab.preference.nash:nash_equilibrium",
        lambda f: lambda pref, log_ref, beta, **k: f(pref, log_ref, 1.02 * beta, **k),
        ("nash_mp_rate",),
        "the regularised Nash equilibrium solved at a beta 2 % above the game's",
    ),
    Mutant(
        "nash_duality_gap_offset",
        "kl_lab.preference.nash_md:duality_gap",
        _shift(1e-6),
        ("nash_mp_rate",),
        "the duality gap of the regularised game off by a constant 1e-6 (a term dropped)",
    ),
    Mutant(
        "entanglement_first_order_2pct_high",
        "kl_lab.preference.entanglement:predict_changes",
        _scale_field("d_log_pi_w", 1.02),
        ("gradient_entanglement",),
        "the first-order change of log pi_w 2 % too large",
    ),
    Mutant(
        "fdpo_kkt_beta_2pct_high",
        "kl_lab.preference.fdpo:kkt_optimum",
        lambda f: lambda log_ref, rewards, beta, generator, **k: f(log_ref, rewards, 1.02 * beta, generator, **k),
        ("fdpo_mapping",),
        "the f-DPO map's KKT solution computed at a beta 2 % too large",
    ),
    Mutant(
        "fdpg_reinforce_2pct_high",
        "kl_lab.preference.fdpo:fdpg_reinforce_samples",
        _scale(1.02),
        ("fdpg_gradients",),
        "the f-DPG REINFORCE estimate f'(pi/p) grad log pi 2 % too large",
    ),
    Mutant(
        "gaussian_sdpi_2pct_high",
        "kl_lab.preference.generalization:gaussian_noise_tv_contraction",
        _scale(1.02),
        ("generalization_layers",),
        "the Gaussian-noise TV contraction erf(R / (sqrt2 sigma)) 2 % too large",
    ),
    Mutant(
        "analytic_init_gain_2pct_high",
        "kl_lab.preference.diffusion_init:init_gap",
        _scale_field("gap_isotropic", 1.02),
        ("analytic_init",),
        "the KL gain of the analytic isotropic init 2 % too large",
    ),
)

BY_NAME = {m.name: m for m in MUTANTS}


def apply(mutant: Mutant, extra_modules: list[Any] = ()) -> None:
    """Replace every reference to the target function in loaded kl_lab/experiment modules by the mutant."""
    mod_name, fn_name = mutant.target.split(":")
    module = importlib.import_module(mod_name)
    original = getattr(module, fn_name)
    mutated = mutant.wrap(original)
    for m in list(sys.modules.values()) + list(extra_modules):
        name = getattr(m, "__name__", "") or ""
        if not (name.startswith("kl_lab") or name.startswith("kl_lab_experiments")):
            continue
        for attr, value in list(vars(m).items()):
            if value is original:
                setattr(m, attr, mutated)


def run(name: str | None, only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Run the mutant's experiments (quick, unsaved) with the mutant applied, in the listed order, until one
    catches it (fails a check); the failed checks of each experiment run.

    ``name=None`` runs unmutated (every experiment any mutant names, or those in ``only``).
    """
    import jax

    from kl_lab import experiment as exp_lib

    jax.config.update("jax_enable_x64", True)
    mutant = BY_NAME[name] if name else None
    exps = mutant.experiments if mutant else tuple(sorted({e for m in MUTANTS for e in m.experiments}))
    if only:
        exps = tuple(e for e in exps if e in only)
    modules = [exp_lib.load(e) for e in exps]
    if mutant:
        apply(mutant, modules)
    failed = {}
    with jax.numpy_rank_promotion("allow"):
        for e, module in zip(exps, modules):
            rec = exp_lib.run_experiment(module, quick=True, save=False)
            failed[e] = [c.name for c in rec.checks if not c.passed]
            if mutant and failed[e]:
                break  # caught: the harness asks for one catching experiment, the rest would only cost time
    return failed


if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else None
    only = tuple(sys.argv[2:])  # optional: restrict to these experiments
    print(json.dumps({"mutant": arg, "failed": run(None if arg in (None, "none") else arg, only)}))
