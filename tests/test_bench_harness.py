"""The benchmark harness (benchmarks/_harness.py): every callable of a row is called, the tables carry every
column, and a '|' in a name does not break the README table. No timing assertions (issue 19)."""

from benchmarks._harness import Bench, Timing, format_markdown, format_rows, time_bench


def test_time_bench_calls_every_column_warmup_plus_repeats():
    calls = {c: 0 for c in ("kl_lab", "eager", "reference", "peer", "floor")}

    def counter(c):
        def f():
            calls[c] += 1
            return c

        return f

    b = Bench("row", counter("kl_lab"), counter("reference"), "ref", repeats=3, peer=counter("peer"))
    b.floor, b.eager = counter("floor"), counter("eager")
    t = time_bench(b)
    assert set(t.seconds) == set(calls)
    assert all(n == 1 + 3 for n in calls.values())  # one warm-up, then one call per round


def test_tables_have_every_column_and_escape_pipes():
    b = Bench("best-of-n |V|=1e5", lambda: 0, None, "-", peer=lambda: 0, peer_name="jnp", floor=lambda: 0)
    b.floor_name = "sort"
    t = Timing(b, {"kl_lab": 0.2, "peer": 0.4, "floor": 0.1})
    assert (
        t.ratio("peer", "kl_lab") == 2.0
        and t.ratio("kl_lab", "floor") == 2.0
        and t.ratio("reference", "kl_lab") is None
    )
    md = format_markdown([t]).splitlines()
    row = next(line for line in md if line.startswith("| best-of-n"))
    header = next(line for line in md if line.startswith("| hot path"))
    cells = lambda line: line.replace("\\|", "").count("|")  # noqa: E731
    assert cells(row) == cells(header) == 8
    assert "2.00x" in row and "200 ms" in row
    text = format_rows([t])
    assert "best-of-n |V|=1e5" in text and "2.00x" in text
