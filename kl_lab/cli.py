"""``kl-lab list | run NAME...|all | check [NAME...]`` -- the command-line entry point.

Exit status: 0 when everything ran and every check passed, 1 when a check
failed, 2 for usage errors (an unknown experiment name is reported with the
closest matches).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kl_lab import checks as checks_lib
from kl_lab import experiment as exp_lib

__all__ = ["main"]


def _resolve(names: Sequence[str]) -> list[str]:
    known = exp_lib.list_experiments()
    if not names or list(names) == ["all"]:
        return known
    bad = [n for n in names if n not in known]
    if bad:
        for n in bad:
            print(f"kl-lab: {exp_lib.UnknownExperimentError(n, known)}", file=sys.stderr)
        raise SystemExit(2)
    return list(names)


def _cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in exp_lib.list_experiments():
        m = exp_lib.load(name)
        rows.append((name, m.PAPER.cite(), m.RUNTIME, m.CLAIM))
    w0 = max((len(r[0]) for r in rows), default=4)
    w2 = max((len(r[2]) for r in rows), default=7)
    print(f"{'name'.ljust(w0)}  {'runtime'.ljust(w2)}  paper / claim")
    for name, paper, runtime, claim in rows:
        print(f"{name.ljust(w0)}  {runtime.ljust(w2)}  {paper}")
        print(f"{''.ljust(w0)}  {''.ljust(w2)}  {claim}")
    return 0


def _run_many(args: argparse.Namespace, save: bool) -> int:
    names = _resolve(args.names)
    table = []
    for name in names:
        print(f"== {name} ({'quick' if args.quick else 'full'})", file=sys.stderr, flush=True)
        rec = exp_lib.run_experiment(
            name, quick=args.quick, seed=args.seed, out=args.out, fresh=getattr(args, "fresh", False), save=save
        )
        table += [(name, c) for c in rec.checks]
        for kind, p in rec.paths.items():
            print(f"   wrote {kind}: {p}", file=sys.stderr)
        print(f"   {rec.wall_time_s:.1f} s", file=sys.stderr)
    print(checks_lib.format_table(table))
    return 0 if all(c.passed for _, c in table) else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kl-lab", description="kl_lab: divergences and the asymptotic theory built on them."
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments: name, paper, claim, expected runtime").set_defaults(fn=_cmd_list)
    for cmd, helptext in (
        ("run", "run experiments and write paper_figures/<name>.{png,pdf,json}"),
        ("check", "run experiments and print their theory checks (exit 1 on failure)"),
    ):
        s = sub.add_parser(cmd, help=helptext)
        s.add_argument("names", nargs="*", help="experiment names, or 'all' (default for check)")
        s.add_argument("--quick", action="store_true", help="small presets that finish in seconds")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument(
            "--out", default=None, help="output folder (default paper_figures/, quick runs paper_figures/quick/)"
        )
        if cmd == "run":
            s.add_argument("--fresh", action="store_true", help="clear cached sweep chunks first")
            s.set_defaults(fn=lambda a: _run_many(a, save=True))
        else:
            s.set_defaults(fn=lambda a: _run_many(a, save=True))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run" and not args.names:
        print("kl-lab run: name at least one experiment, or 'all'", file=sys.stderr)
        return 2
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
