"""``kl-lab list | show NAME | run NAME...|all | check [NAME...]`` -- the command-line entry point.

``run`` and ``check`` take ``--quick``, ``--seed S``, ``--set FIELD=VALUE``
(repeatable; typed from the ``Config`` field), ``--out DIR``, ``--fresh``,
``--quiet`` and ``--distributed``; ``check`` also ``--origin`` (keep only the
checks of one origin) and ``--save`` (write the figures and JSON, which
``check`` otherwise leaves alone). Every experiment also runs as
``python experiments/<name>.py`` with the options of ``run``.

Multi-process runs: ``--distributed``, or the environment variable
``JAX_COORDINATOR_ADDRESS`` (with ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``
where JAX cannot detect the cluster), calls ``jax.distributed.initialize()``
before anything touches a device. Every process runs the same command.

Exit status: 0 everything ran and every check passed; 1 a check failed; 2 a
usage error (an unknown experiment name is reported with the closest matches,
an unknown or unparsable ``--set`` with the list of fields); 3 an experiment
crashed (its traceback goes to stderr and the other experiments still run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from kl_lab import checks as checks_lib
from kl_lab import experiment as exp_lib

__all__ = ["main", "build_parser", "run_script", "init_distributed"]

ORIGINS = ("paper", "derived", "hypothesis", "law")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CRASHED = 0, 1, 2, 3


class _UsageError(Exception):
    pass


def _known() -> list[str]:
    """The registered experiments; a usage error (exit 2) saying where it looked when there are none."""
    known = exp_lib.list_experiments()
    if not known:
        raise _UsageError(
            f"no experiments found; looked in {exp_lib.experiments_location()}. "
            "Set KL_LAB_EXPERIMENTS to a folder of experiment files, or reinstall kl-lab."
        )
    return known


def _resolve(names: Sequence[str]) -> list[str]:
    known = _known()
    if not names or list(names) == ["all"]:
        return known
    bad = [n for n in names if n not in known]
    if bad:
        for n in bad:
            print(f"kl-lab: {exp_lib.UnknownExperimentError(n, known)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return list(names)


def init_distributed(flag: bool = False) -> bool:
    """``jax.distributed.initialize()`` when asked (``--distributed``) or when ``JAX_COORDINATOR_ADDRESS`` is set.

    ``JAX_COORDINATOR_ADDRESS`` is read by JAX itself; ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID`` are passed on when set (clusters JAX detects need none).
    Returns whether it initialised. Must run before anything touches a device.

    Args:
      flag: initialise even without ``JAX_COORDINATOR_ADDRESS`` (``--distributed``).

    Example:
      >>> "JAX_COORDINATOR_ADDRESS" in os.environ or init_distributed(False) is False
      True
    """
    if not (flag or os.environ.get("JAX_COORDINATOR_ADDRESS")):
        return False
    import jax

    kwargs = {}
    for env, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(env):
            try:
                kwargs[arg] = int(os.environ[env])
            except ValueError:
                raise _UsageError(f"{env} must be an integer; got {os.environ[env]!r}") from None
    try:
        jax.distributed.initialize(**kwargs)
    except ValueError as e:  # no coordinator given and no cluster detected
        raise _UsageError(
            f"--distributed: jax.distributed.initialize() needs JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and "
            f"JAX_PROCESS_ID (or a cluster JAX detects): {e}"
        ) from None
    return True


def _cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in _known():
        m = exp_lib.load(name)
        rows.append((name, m.PAPER.cite(), m.RUNTIME, m.CLAIM))
    w0 = max((len(r[0]) for r in rows), default=4)
    w2 = max((len(r[2]) for r in rows), default=7)
    print(f"{'name'.ljust(w0)}  {'runtime'.ljust(w2)}  paper / claim")
    for name, paper, runtime, claim in rows:
        print(f"{name.ljust(w0)}  {runtime.ljust(w2)}  {paper}")
        print(f"{''.ljust(w0)}  {''.ljust(w2)}  {claim}")
    return EXIT_OK


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _cmd_show(args: argparse.Namespace) -> int:
    (name,) = _resolve([args.name])
    m = exp_lib.load(name)
    print(f"{name}: {m.TITLE}")
    print(f"claim:   {m.CLAIM}")
    print(f"paper:   {m.PAPER.cite()}")
    print(f"runtime: {m.RUNTIME} (full size)")
    full, quick = m.Config(), m.Config.quick()
    rows = [["field", "default", "quick"]]
    for f in dataclasses.fields(full):
        a, b = getattr(full, f.name), getattr(quick, f.name)
        rows.append([f.name, repr(a), "" if b == a else repr(b)])
    print("\nconfig (--set FIELD=VALUE; quick: the --quick preset where it differs)")
    print(_table(rows))
    out = Path(args.out) if args.out else exp_lib.default_out_dir()
    path = out / f"{name}.json"
    if not path.exists():
        print(f"\nno saved results ({path} does not exist; `kl-lab run {name}` writes it)")
        return EXIT_OK
    doc = json.loads(path.read_text())
    prov = doc.get("provenance", {})
    print(f"\nlast saved results: {path} (seed {prov.get('seed')}, commit {prov.get('git_commit')})")
    if doc.get("overrides"):
        print(f"overrides: {doc['overrides']}")
    rows = [["check", "origin", "kind", "worst", "tolerance", "result"]]
    for c in doc.get("checks", []):
        origin = " ".join(str(c.get(k) or "") for k in ("origin", "origin_detail")).strip() or "-"
        num = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in (c.get("worst"), c.get("tolerance"))]
        rows.append([str(c.get("name")), origin, str(c.get("kind")), *num, "pass" if c.get("passed") else "FAIL"])
    print(_table(rows))
    return EXIT_OK


def _prepare(targets: Sequence[str | ModuleType], sets: Sequence[str] | None) -> tuple[list, list[str]]:
    """Load each experiment and parse ``--set`` against its Config: ``([(module, overrides)], crashed)``."""
    ready, crashed = [], []
    for t in targets:
        try:
            module = exp_lib.load(t) if isinstance(t, str) else t
        except Exception:
            traceback.print_exc()
            crashed.append(str(t))
            continue
        try:
            overrides = exp_lib.parse_overrides(module.Config, sets)
        except exp_lib.ConfigOverrideError as e:
            raise _UsageError(f"{getattr(module, 'NAME', t)}: {e}") from None
        ready.append((module, overrides))
    return ready, crashed


def _run_many(args: argparse.Namespace, targets: Sequence[str | ModuleType], save: bool) -> int:
    ready, crashed = _prepare(targets, args.set)
    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    origin = getattr(args, "origin", None)
    table = []
    for module, overrides in ready:
        name = module.NAME
        exp_lib.release_compiled_programs()  # many experiments in one process: stay below the mmap limit
        say(f"== {name} ({'quick' if args.quick else 'full'}{', ' + str(overrides) if overrides else ''})")
        try:
            rec = exp_lib.run_experiment(
                module,
                quick=args.quick,
                seed=args.seed,
                out=args.out,
                fresh=args.fresh,
                save=save,
                overrides=overrides,
                progress=False if args.quiet else None,
            )
        except Exception:
            traceback.print_exc()
            print(f"kl-lab: experiment {name} crashed (traceback above); continuing", file=sys.stderr, flush=True)
            crashed.append(name)
            continue
        table += [(name, c) for c in rec.checks if origin is None or getattr(c, "origin", None) == origin]
        for kind, p in rec.paths.items():
            say(f"   wrote {kind}: {p}")
        say(f"   {rec.wall_time_s:.1f} s")
    print(checks_lib.format_table(table))
    if crashed:
        print(f"kl-lab: {len(crashed)} experiment(s) crashed: {', '.join(crashed)}", file=sys.stderr)
        return EXIT_CRASHED
    return EXIT_OK if all(c.passed for _, c in table) else EXIT_FAILED


def _add_run_arguments(s: argparse.ArgumentParser, cmd: str) -> None:
    s.add_argument("--quick", action="store_true", help="small presets that finish in seconds")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a Config field (repeatable), typed from the field: 3, 0.5, true, text, 1,2,3",
    )
    s.add_argument(
        "--out",
        default=None,
        help="output folder (default paper_figures/[quick/] of the clone, or of the current directory when installed)",
    )
    s.add_argument("--fresh", action="store_true", help="clear cached sweep chunks first")
    s.add_argument("--quiet", action="store_true", help="no progress output on stderr (also KL_LAB_PROGRESS=0)")
    s.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-process; JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES, JAX_PROCESS_ID); implied when JAX_COORDINATOR_ADDRESS is set",
    )
    if cmd == "check":
        s.add_argument("--origin", choices=ORIGINS, default=None, help="keep only the checks of this origin")
        s.add_argument("--save", action="store_true", help="also write the figures and JSON (as `run` does)")


def build_parser() -> argparse.ArgumentParser:
    """The ``kl-lab`` argument parser: subcommands ``list``, ``show``, ``run`` and ``check``.

    Example:
      >>> args = build_parser().parse_args(["check", "bernoulli_bounds", "--quick", "--seed", "3"])
      >>> args.command, args.names, args.quick, args.seed
      ('check', ['bernoulli_bounds'], True, 3)
    """
    p = argparse.ArgumentParser(
        prog="kl-lab", description="kl_lab: divergences and the asymptotic theory built on them."
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments: name, paper, claim, expected runtime").set_defaults(fn=_cmd_list)
    show = sub.add_parser("show", help="one experiment: claim, paper, config fields, last saved checks")
    show.add_argument("name")
    show.add_argument("--out", default=None, help="where its saved JSON is (default paper_figures/)")
    show.set_defaults(fn=_cmd_show)
    for cmd, helptext in (
        ("run", "run experiments and write paper_figures/<name>.{png,pdf,json} (--quick: no pdf)"),
        ("check", "run experiments and print their theory checks (exit 1 on failure); writes no figures"),
    ):
        s = sub.add_parser(cmd, help=helptext)
        s.add_argument("names", nargs="*", help="experiment names, or 'all' (default for check)")
        _add_run_arguments(s, cmd)
        s.set_defaults(fn=lambda a: _run_many(a, _resolve(a.names), save=a.command == "run" or a.save))
    return p


def _guarded(fn) -> int:
    try:
        return fn()
    except _UsageError as e:
        print(f"kl-lab: {e}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """The ``kl-lab`` command: parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return the exit status.

    Exit status: 0 passed, 1 a check failed, 2 usage error, 3 an experiment crashed.

    Example:
      >>> import contextlib, io
      >>> buf = io.StringIO()
      >>> with contextlib.redirect_stdout(buf):
      ...     status = main(["list"])
      >>> status, "bernoulli_bounds" in buf.getvalue()
      (0, True)
    """
    args = build_parser().parse_args(argv)
    if args.command == "run" and not args.names:
        print("kl-lab run: name at least one experiment, or 'all'", file=sys.stderr)
        return EXIT_USAGE

    def go() -> int:
        if args.command in ("run", "check"):
            init_distributed(args.distributed)  # before anything (an experiment's import included) touches a device
        return args.fn(args)

    return _guarded(go)


def run_script(path: str | os.PathLike, argv: Sequence[str] | None = None) -> int:
    """``python experiments/<name>.py [--quick] [--seed S] [--set F=V]... [--out DIR] [--fresh] [--quiet]``.

    What every experiment file calls under ``if __name__ == "__main__"``: the same options and exit status
    as ``kl-lab run <name>`` (0 passed, 1 a check failed, 2 usage error, 3 the experiment crashed).

    Args:
      path: the experiment file (``__file__``).
      argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Example:
      >>> import contextlib, io
      >>> with contextlib.redirect_stderr(io.StringIO()):  # the traceback of the failed import
      ...     run_script("/nonexistent/experiment.py", ["--quick"])
      3
    """
    parser = argparse.ArgumentParser(prog=Path(path).name, description=f"Run the {Path(path).stem} experiment.")
    _add_run_arguments(parser, "run")
    args = parser.parse_args(argv)

    def go() -> int:
        init_distributed(args.distributed)
        try:
            module = exp_lib.load(path)
        except Exception:
            traceback.print_exc()
            return EXIT_CRASHED
        return _run_many(args, [module], save=True)

    return _guarded(go)


if __name__ == "__main__":
    raise SystemExit(main())
