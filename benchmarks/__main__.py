"""``python -m benchmarks [substring ...]``: run every benchmarks/bench_*.py and print ratios."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import jax

from benchmarks._harness import format_rows, time_call


def main(argv: list[str]) -> int:
    jax.config.update("jax_enable_x64", False)  # speed is measured in float32 unless a bench says otherwise
    import benchmarks

    rows = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")):
        module = importlib.import_module(f"benchmarks.{mod}")
        for b in module.benchmarks():
            if argv and not any(a in b.name for a in argv):
                continue
            print(f"running {b.name} ...", file=sys.stderr, flush=True)
            t_k = time_call(b.kl_lab, b.repeats)
            t_r = time_call(b.reference, b.repeats) if b.reference is not None else None
            rows.append((b.name, t_k, t_r, b.reference_name, b.note))
    print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}")
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
