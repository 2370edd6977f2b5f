"""BD-KD: student entropy along the forward/reverse-KL mixture, and where the entropy gate lands.

BD-KD (Amara et al., arXiv:2212.12965) weights forward and reverse KL per
sample, guided by the teacher–student entropy gap. The exact weights were not
available: the gate here is the **hypothesis** of
:func:`kl_lab.distillation.bdkd_weights` (forward KL when ``H(p_s) < H(p_t)``,
reverse KL otherwise; a sigmoid of the gap for the soft variant).

On the capacity-limited toy of ``kd_mode_behaviour`` (bimodal teacher over 40
ordered classes, discretised-Gaussian student) we fit
``a KL(p_t||p_s) + (1-a) KL(p_s||p_t)`` for ``a`` in ``[0, 1]`` and the gated loss.
Findings (checks): the student's entropy rises monotonically with ``a`` and the
teacher's entropy lies between its ends; the gated student ends at the
teacher's entropy [derived: the switching dynamics slide along the surface
``H(p_s) = H(p_t)`` and stop where a convex combination of the two gradients
vanishes: there grad FKL and grad RKL are anti-parallel, checked]. The gate acts
as an entropy-matching constraint. The mixture fit itself is not continuous in ``a``: from the start
(14, 3) its entropy rises along the collapsed branch up to ``a ~ 0.2`` and then
jumps to the averaging branch (entropy ~3.6); the gate lands on the collapsed
branch at ``a* ~ 0.21``, just below the jump.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from kl_lab import cli, experiment, plotting
from kl_lab.checks import Checks, derived, hypothesis
from kl_lab.distillation import bdkd_loss, mixed_kl_loss
from kl_lab.distillation.toys import gaussian_logits, mixture_log_probs
from kl_lab.divergences import entropy
from kl_lab.sweep import sweep

TITLE = "BD-KD: forward/reverse KL balance and the entropy gate (gate rule = HYPOTHESIS)"
PAPER = experiment.Paper(
    authors="Amara et al.", year=2022, arxiv="2212.12965", where="abstract (weights not available)"
)
CLAIM = (
    "Sample-wise weighting of forward and reverse KL by the entropy gap balances student confidence; under the "
    "hypothesised gate the student settles at the teacher's entropy."
)
RUNTIME = "30 s"


@dataclasses.dataclass(frozen=True)
class Config:
    num_classes: int = 40
    modes: tuple[float, float] = (10.0, 29.0)
    mode_weights: tuple[float, float] = (0.6, 0.4)
    mode_scale: float = 2.0
    init: tuple[float, float] = (14.0, 3.0)
    mixtures: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 41), 6))
    soft_sharpness: float = 0.05
    steps: int = 6000
    learning_rate: float = 0.05

    @classmethod
    def quick(cls) -> Config:
        return cls(mixtures=tuple(np.round(np.linspace(0.0, 1.0, 11), 6)), steps=2000, learning_rate=0.1)


def _fit(q, teacher, config):
    """mode 0: mixture with weight a; mode 1: hard entropy gate; mode 2: soft gate."""

    def objective(theta):
        s = gaussian_logits(theta[0], theta[1], config.num_classes)
        mixed = mixed_kl_loss(s, teacher, q["a"])
        hard = bdkd_loss(s, teacher)
        soft = bdkd_loss(s, teacher, sharpness=config.soft_sharpness)
        return jnp.select([q["mode"] == 0, q["mode"] == 1], [mixed, hard], soft)

    opt = optax.adam(optax.cosine_decay_schedule(config.learning_rate, config.steps, alpha=1e-3))
    theta0 = jnp.array([config.init[0], jnp.log(config.init[1])])

    def step(carry, _):
        theta, state = carry
        g = jax.grad(objective)(theta)
        upd, state = opt.update(g, state)
        return (optax.apply_updates(theta, upd), state), None

    (theta, _), _ = jax.lax.scan(step, (theta0, opt.init(theta0)), None, length=config.steps)
    log_q = jax.nn.log_softmax(gaussian_logits(theta[0], theta[1], config.num_classes))
    return {"theta": theta, "entropy": entropy(log_q), "log_q": log_q}


def run(config: Config, key: jax.Array) -> dict:
    del key  # deterministic
    teacher = mixture_log_probs(config.modes, (config.mode_scale,) * 2, config.mode_weights, config.num_classes)
    a = np.asarray(config.mixtures)
    pts = {"a": np.concatenate([a, [0.5, 0.5]]), "mode": np.concatenate([np.zeros(a.size, int), [1, 2]])}
    out = sweep(lambda q: _fit(q, teacher, config), pts, name="fits")
    n = a.size

    def grads(theta):
        def fkl(th):
            return mixed_kl_loss(gaussian_logits(th[0], th[1], config.num_classes), teacher, 1.0)

        def rkl(th):
            return mixed_kl_loss(gaussian_logits(th[0], th[1], config.num_classes), teacher, 0.0)

        return jax.grad(fkl)(theta), jax.grad(rkl)(theta)

    g_f, g_r = grads(jnp.asarray(out["theta"][n]))
    cos = jnp.dot(g_f, g_r) / (jnp.linalg.norm(g_f) * jnp.linalg.norm(g_r))
    a_star = jnp.linalg.norm(g_r) / (jnp.linalg.norm(g_f) + jnp.linalg.norm(g_r))
    # the same at the soft-gated fit: the FKL share that makes the two gradients cancel there
    sg_f, sg_r = grads(jnp.asarray(out["theta"][n + 1]))
    soft_a_star = jnp.linalg.norm(sg_r) / (jnp.linalg.norm(sg_f) + jnp.linalg.norm(sg_r))
    soft_cos = jnp.dot(sg_f, sg_r) / (jnp.linalg.norm(sg_f) * jnp.linalg.norm(sg_r))
    return {
        "gate_grad_cosine": cos,
        "gate_a_star": a_star,
        "soft_gate_a_star": soft_a_star,
        "soft_gate_grad_cosine": soft_cos,
        "a": a,
        "teacher": teacher,
        "teacher_entropy": entropy(teacher),
        "theta": out["theta"][:n],
        "entropy": out["entropy"][:n],
        "log_q": out["log_q"][:n],
        "gated_theta": out["theta"][n:],
        "gated_entropy": out["entropy"][n:],
        "gated_log_q": out["log_q"][n:],
    }


def checks(results: dict, config: Config) -> Checks:
    h, ht = results["entropy"], float(results["teacher_entropy"])
    unavailable = "the paper's weights were not available"
    gate = hypothesis(f"gate of kl_lab.distillation.bdkd_weights: FKL if H(p_s) < H(p_t), else RKL; {unavailable}")
    covers = derived("module docstring: forward KL covers, reverse KL seeks")
    c = Checks(PAPER)
    c.lower_bound(
        "FOUND_entropy_monotone_in_a", np.diff(h), 0.0, slack=1e-6,
        why="fits stop at finite Adam steps: entropy error ~1e-7",
        claim="FOUND (observed, not derived): the student entropy of the mixture fit is non-decreasing in the "
        "forward-KL weight a on this toy",
        origin=hypothesis(
            "an observation of this run: 'forward KL covers, reverse KL seeks' suggests it, but the mixture fit "
            "jumps between branches (module docstring) and no derivation shows monotonicity"
        ),
    )  # fmt: skip
    c.lower_bound(
        "teacher_entropy_bracketed", np.array([ht, h[-1]]), np.array([h[0], ht]) + 1e-3,
        why="strictly: beyond the fits' entropy error (1e-3, the hard gate's chattering tolerance) on both sides",
        claim="H(RKL fit) < H(teacher) < H(FKL fit), strictly", origin=covers,
    )  # fmt: skip
    c.close(
        "hard_gate_matches_teacher_entropy", ht, results["gated_entropy"][0], atol=1e-3,
        why="the gate chatters around H_s = H_t with parameter steps ~ the final learning rate",
        claim="the hard-gated student ends at the teacher's entropy", origin=gate,
    )  # fmt: skip
    c.close(
        "hard_gate_is_sliding_mode", -1.0, results["gate_grad_cosine"], atol=1e-3,
        why="chattering leaves the fit ~lr_final from the surface; cosine error of the same order",
        claim="at the gated fit grad FKL and grad RKL are anti-parallel: a* grad FKL + (1-a*) grad RKL = 0",
        origin=derived("module docstring: sliding mode on H_s = H_t under the hypothesised gate"),
    )  # fmt: skip
    k = config.soft_sharpness
    a_soft = float(results["soft_gate_a_star"])
    c.close(
        "soft_gate_offset", k * np.log((1 - a_soft) / a_soft), float(results["gated_entropy"][1] - ht), atol=1e-6,
        alternatives=[0.0],
        why="the soft gate is smooth and Adam converges (fits' entropy error ~1e-7; 10x margin)",
        claim="the soft gate (sharpness k) stops where its weight sigmoid(-offset / k) equals the FKL share a* that "
        "cancels the two gradients: H(p_s) - H(p_t) = k log((1 - a*)/a*) (not 0 like the hard gate)",
        origin=hypothesis(f"soft gate of kl_lab.distillation.bdkd_weights: sigmoid of the entropy gap; {unavailable}"),
    )  # fmt: skip
    return c


def plot(results: dict, config: Config):
    fig, (ax1, ax2) = plotting.subplots(1, 2, width=3.8)
    ht = float(results["teacher_entropy"])
    ax1.plot(results["a"], results["entropy"], **plotting.sim_style, label="fit of a FKL + (1-a) RKL")
    ax1.axhline(ht, **plotting.theory_style, label=f"teacher entropy {ht:.3f}")
    a_star = float(results["gate_a_star"])
    for j, lab in enumerate(("hard gate", "soft gate")):
        ax1.plot(
            [a_star],
            [results["gated_entropy"][j]],
            marker="*^"[j],
            markersize=8,
            linestyle="none",
            color=plotting.PALETTE[3 + j],
            label=f"{lab}: H = {results['gated_entropy'][j]:.3f} (at a* = {a_star:.2f})",
        )
    ax1.set(xlabel="forward-KL weight a", ylabel="student entropy (nats)", title="Entropy along the FKL/RKL mixture")
    ax1.legend(fontsize=6)
    i = np.arange(config.num_classes)
    ax2.bar(i, np.exp(results["teacher"]), color="0.8", label="teacher")
    for a_show, col in ((0.0, 0), (0.25, 1), (1.0, 2)):
        j = int(np.argmin(np.abs(results["a"] - a_show)))
        ax2.plot(i, np.exp(results["log_q"][j]), color=plotting.PALETTE[col], label=f"a = {results['a'][j]:.2f}")
    ax2.plot(i, np.exp(results["gated_log_q"][0]), color=plotting.PALETTE[3], linestyle="--", label="hard gate")
    ax2.set(xlabel="class i", ylabel="probability", title="Fitted students")
    ax2.legend(fontsize=6)
    fig.suptitle(
        "BD-KD gate = HYPOTHESIS (FKL if H(student) < H(teacher), else RKL); paper's weights unavailable", fontsize=8
    )
    return fig


if __name__ == "__main__":
    raise SystemExit(cli.run_script(__file__))
