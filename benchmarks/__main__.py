"""``python -m benchmarks [--markdown] [--x64] [substring ...]``: run every benchmarks/bench_*.py and print, for
each row, kl_lab (jitted and eager), the numpy/scipy reference, the JAX peer and the floor, with ratios.

``--markdown`` prints the README speed table instead of the plain one; substrings select rows by name.
``--x64`` times in float64 (default float32). The header line records the backend, the device and the load
average, because the machine this runs on is often shared.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys

import jax

from benchmarks._harness import format_markdown, format_rows, time_bench


def _header() -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    return (
        f"backend: {jax.default_backend()} ({kind}, {jax.device_count()} device(s)), {os.cpu_count()} CPUs, "
        f"{platform.machine()}, jax {jax.__version__}, {dtype}, load average {load}"
    )


def main(argv: list[str]) -> int:
    markdown = "--markdown" in argv
    x64 = "--x64" in argv
    names = [a for a in argv if not a.startswith("--")]
    jax.config.update("jax_enable_x64", x64)  # speed is measured in float32 unless --x64
    import benchmarks

    timings = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")):
        module = importlib.import_module(f"benchmarks.{mod}")
        for b in module.benchmarks():
            if names and not any(a in b.name for a in names):
                continue
            print(f"running {b.name} ...", file=sys.stderr, flush=True)
            timings.append(time_bench(b))
            print(format_rows(timings[-1:]).splitlines()[2], file=sys.stderr, flush=True)  # progress, row by row
    header = _header()
    if markdown:
        print(format_markdown(timings, header=f"*{header}*\n"))
    else:
        print(header)
        print(format_rows(timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
