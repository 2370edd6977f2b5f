"""Generate the site's pages at build time (run by mkdocs-gen-files; nothing here is committed output).

* ``experiments/``: one page per experiment that :func:`kl_lab.experiment.list_experiments` returns,
  from the module (title, paper, claim, docstring, ``Config`` with its defaults and quick preset) and
  its committed ``paper_figures/<name>.json`` (figure, checks with their origin, provenance), plus
  the gallery index with pass counts per origin. A check without an ``origin`` is "unspecified".
* ``api/``: the API reference, one page per topic of the library, every public module of
  ``kl_lab/`` on the page of its topic (a module this file does not know gets a page of its own).
* ``notebooks/``: the stored notebooks (rendered by mkdocs-jupyter) and their index.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import math
import os
import re
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT))

from griffe_roles import convert_literal_blocks  # noqa: E402

log = logging.getLogger("mkdocs.plugins.kl_lab.gen_pages")  # a warning fails the strict build

ORIGINS = ("paper", "derived", "hypothesis", "law", "unspecified")

# (page, title, top-level modules of kl_lab), in the order the library is told (DESIGN.md, "Layout")
API_GROUPS = [
    ("divergences", "Divergences, numerics and solvers", ["numerics", "solvers", "divergences"]),
    ("families", "Families and projections", ["families", "projection"]),
    ("pn-criterion", "The p–n criterion", ["pn_criterion"]),
    ("alignment", "Alignment", ["alignment"]),
    ("kde", "Kernel density estimation", ["kde"]),
    ("privacy", "Local differential privacy", ["privacy"]),
    ("distillation", "Distillation", ["distillation"]),
    ("preference", "Preference alignment", ["preference"]),
    (
        "harness",
        "Sweeps and the harness",
        ["sweep", "experiment", "configs", "checks", "stats", "asymptotics", "plotting", "cli"],
    ),
    ("datasets", "Data sets", ["datasets"]),
]


def write(path: str, text: str) -> None:
    with mkdocs_gen_files.open(path, "w") as f:
        f.write(text)


def copy_binary(src: Path, dest: str) -> None:
    with mkdocs_gen_files.open(dest, "wb") as f:
        f.write(src.read_bytes())


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


# --------------------------------------------------------------------------------------------
# API reference
# --------------------------------------------------------------------------------------------
def public_modules(top: str) -> list[str]:
    """``kl_lab.<top>`` and, for a package, its public submodules (files not starting with ``_``)."""
    pkg = ROOT / "kl_lab" / top
    if pkg.is_dir():
        subs = sorted(p.stem for p in pkg.glob("*.py") if not p.name.startswith("_"))
        subs += sorted(p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists())
        return [f"kl_lab.{top}"] + [f"kl_lab.{top}.{s}" for s in subs]
    return [f"kl_lab.{top}"]


def api_tops() -> list[str]:
    base = ROOT / "kl_lab"
    tops = [p.stem for p in base.glob("*.py") if not p.name.startswith("_")]
    tops += [p.name for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name[0] != "_"]
    return sorted(tops)


def gen_api() -> list[tuple[str, str]]:
    known = {t for _, _, tops in API_GROUPS for t in tops}
    groups = [g for g in API_GROUPS if any(t in api_tops() for t in g[2])]
    groups += [(t.replace("_", "-"), f"kl_lab.{t}", [t]) for t in api_tops() if t not in known]
    nav = []
    for page, title, tops in groups:
        lines = [f"# {title}", ""]
        for top in tops:
            if top not in api_tops():
                continue
            mods = public_modules(top)
            is_pkg = len(mods) > 1 or (ROOT / "kl_lab" / top).is_dir()
            for mod in mods:
                lines.append(f"::: {mod}")
                if is_pkg and mod == mods[0]:
                    lines += ["    options:", "      members: false", "      show_root_toc_entry: true"]
                lines.append("")
        write(f"api/{page}.md", "\n".join(lines))
        nav.append((title, f"{page}.md"))
    index = [
        "# API reference",
        "",
        "Generated from the docstrings (Google style: *Args*, *Returns*, *Example*). Every public name "
        "(a module's `__all__`) has an entry; a package's page starts with its overview.",
        "",
        "| topic | modules |",
        "|---|---|",
    ]
    for page, title, tops in groups:
        mods = [m for t in tops if t in api_tops() for m in public_modules(t)]
        index.append(f"| [{title}]({page}.md) | {', '.join(f'`{m}`' for m in mods)} |")
    write("api/index.md", "\n".join(index) + "\n")
    write("api/SUMMARY.md", "* [Overview](index.md)\n" + "".join(f"* [{t}]({p})\n" for t, p in nav))
    return nav


# --------------------------------------------------------------------------------------------
# experiments
# --------------------------------------------------------------------------------------------
def fmt_num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:.6g}"
    return str(v)


def flat(v: Any) -> list:
    if isinstance(v, list):
        return [u for w in v for u in flat(w)]
    return [v]


def fmt_value(v: Any) -> str:
    """A scalar as 6 significant digits; an array as its size and range (the table's "worst" is exact)."""
    if not isinstance(v, list):
        return fmt_num(v)
    vals = flat(v)
    nums = [float(u) for u in vals if u is not None]
    if not nums:
        return f"[{len(vals)} values]"
    lo, hi = min(nums), max(nums)
    if lo == hi:
        return f"{len(vals)} × {fmt_num(lo)}"
    return f"{len(vals)} values in [{fmt_num(lo)}, {fmt_num(hi)}]"


def fmt_resolution(r: Any) -> str:
    if r is None:
        return "—"
    r = float(r) if not isinstance(r, str) else float(r)
    if math.isnan(r) or r == 0:
        return "—"
    if math.isinf(r):
        return "cannot fail"
    return f"±{100 * r:.2g}%"


def tolerance_text(c: dict) -> str:
    unit = {"zscore": " se", "rel": " rel"}.get(c.get("kind"), "")
    side = ""
    if c.get("kind") == "bound":
        upper = c.get("direction", "upper") == "upper"
        side = " (measured ≤ predicted + tol)" if upper else " (measured ≥ predicted − tol)"
    return f"{fmt_num(c.get('tolerance'))}{unit}{side}"


def origin_of(c: dict) -> str:
    o = c.get("origin") or "unspecified"
    return o if o in ORIGINS else "unspecified"


def origin_counts(checks: list[dict]) -> dict[str, tuple[int, int]]:
    total, passed = Counter(), Counter()
    for c in checks:
        o = origin_of(c)
        total[o] += 1
        passed[o] += bool(c.get("passed"))
    return {o: (passed[o], total[o]) for o in ORIGINS if total[o]}


def counts_text(counts: dict[str, tuple[int, int]]) -> str:
    return " · ".join(f"{o} {p}/{t}" for o, (p, t) in counts.items()) or "no checks"


def checks_table(checks: list[dict]) -> str:
    head = ("check and claim", "origin", "kind", "predicted", "measured", "tolerance and its reason", "worst",
            "resolves", "result")  # fmt: skip
    rows = [
        '<div class="kl-checks"><table>',
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for c in checks:
        origin = origin_of(c)
        detail = c.get("origin_detail") or ("" if origin != "unspecified" else "not recorded in the committed JSON")
        result = "PASS" if c.get("passed") else '<span class="kl-fail">FAIL</span>'
        cells = [
            f"<code>{esc(c.get('name'))}</code><br>{esc(c.get('claim', ''))}",
            f'<span class="kl-origin kl-origin-{origin}">{origin}</span>' + (f"<br><small>{esc(detail)}</small>"),
            esc(c.get("kind", "")),
            esc(fmt_value(c.get("predicted"))),
            esc(fmt_value(c.get("measured")))
            + (f"<br><small>se {esc(fmt_value(c.get('stderr')))}</small>" if c.get("stderr") is not None else ""),
            f"{esc(tolerance_text(c))}<br><small>{esc(c.get('reason', ''))}</small>",
            esc(fmt_num(c.get("worst"))),
            esc(fmt_resolution(c.get("resolution"))),
            result,
        ]
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    rows += ["</tbody>", "</table></div>"]
    return "\n".join(rows)


def cli_value(v: Any) -> str:
    """A config value as ``--set`` spells it (tuples ``1,2,3``; tuples of tuples ``a,b;c,d``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        if any(isinstance(u, (tuple, list)) for u in v):
            return ";".join(cli_value(u) for u in v)
        return ",".join(cli_value(u) for u in v)
    if v is None:
        return "none"
    return str(v)


def as_json(v: Any) -> Any:
    """A config value as the harness stores it in JSON (tuples as lists, non-finite floats as strings)."""
    if isinstance(v, (tuple, list)):
        return [as_json(u) for u in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def config_rows(module: Any, doc: dict | None) -> tuple[str, list[tuple[str, Any]]]:
    fields = dataclasses.fields(module.Config)
    full = module.Config()
    quick = module.Config.quick()
    saved = (doc or {}).get("config", {})
    head = ("field", "type", "default (full size)", "quick preset", "committed run")
    rows = ['<div class="kl-config"><table>', "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"]
    rows.append("<tbody>")
    example = []
    for f in fields:
        d, q = getattr(full, f.name), getattr(quick, f.name)
        tp = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if f.name in saved:
            s = saved[f.name]
            same = s == as_json(d)
            committed = "= default" if same else f"<code>{esc(cli_value(s))}</code>"
        else:
            committed = "—"
        qtext = "= default" if q == d else f"<code>{esc(cli_value(q))}</code>"
        rows.append(
            f"<tr><td><code>{esc(f.name)}</code></td><td><code>{esc(tp)}</code></td>"
            f"<td><code>{esc(cli_value(d))}</code></td><td>{qtext}</td><td>{committed}</td></tr>"
        )
        if isinstance(d, (int, float, str, bool, tuple)) and not (isinstance(d, tuple) and not d):
            example.append((f.name, d))
    rows += ["</tbody>", "</table></div>"]
    return "\n".join(rows), example


def paper_text(paper: Any) -> str:
    arxiv = str(paper.arxiv)
    m = re.match(r"^(\d{4}\.\d{4,5})(v\d+)?$", arxiv.strip())
    if m:
        version = m.group(2) or ""
        link = f"[arXiv:{arxiv}](https://arxiv.org/abs/{arxiv})"
        pinned = f"version {version[1:]}" if version else "version not pinned (latest)"
        ref = f"{link}, {pinned}"
    else:
        ref = esc(arxiv)
    where = f"; **where:** {esc(paper.where)}" if paper.where else ""
    return f"{esc(paper.authors)} ({paper.year}), {ref}{where}"


def strip_roles(text: str) -> str:
    return re.sub(r":(?:py:)?\w+:`~?([^`]+)`", r"`\1`", text)


def experiment_page(name: str, module: Any, doc: dict | None, figure: str | None) -> str:
    out = [f"# {esc(module.TITLE)}", ""]
    out += [f"`{name}` · expected runtime at full size: {esc(module.RUNTIME)} (2-core CPU)", ""]
    out += [f"**Paper:** {paper_text(module.PAPER)}", ""]
    out += [f"**Claim:** {esc(module.CLAIM)}", ""]
    if figure:
        out += [f"![{esc(module.TITLE)}]({figure})", ""]
        out += [f"The figure and its PDF are `paper_figures/{name}.png` and `.pdf` in the repository.", ""]
    checks = (doc or {}).get("checks", [])
    out += ["## Theory checks", ""]
    if doc is None:
        out += [
            f"No committed run: `paper_figures/{name}.json` is not in the repository yet. "
            f"`kl-lab run {name}` writes it (below).",
            "",
        ]
    else:
        n_pass = sum(bool(c.get("passed")) for c in checks)
        out += [
            f"From the committed run: **{n_pass}/{len(checks)} passed** ({counts_text(origin_counts(checks))}). "
            "Origin says whose claim a check tests: *paper* (a statement of the paper, at the location given), "
            "*derived* (our derivation, in the docstring named), *hypothesis* (a model we chose where the "
            "paper's text was not available), *law* (a textbook identity). An array check shows its size and "
            "range; *worst* is its worst element in the units the kind compares in, and *resolves* the smallest "
            "relative change of the prediction that would fail it.",
            "",
            checks_table(checks),
            "",
        ]
    if module.__doc__:
        out += ["## Notes", "", convert_literal_blocks(strip_roles(module.__doc__.strip())), ""]
    table, example = config_rows(module, doc)
    out += [
        "## Configuration",
        "",
        f"`{name}.Config` (a frozen dataclass): the full-size defaults, the `quick()` preset the tests run, and "
        "the values of the committed run (which records any `--set` overrides).",
        "",
        table,
        "",
    ]
    out += ["## Provenance of the committed run", ""]
    if doc is None:
        out += ["No committed run.", ""]
    else:
        prov = dict(doc.get("provenance", {}))
        prov["config_hash"] = doc.get("config_hash")
        prov["code_hash"] = doc.get("code_hash")
        prov["overrides"] = doc.get("overrides") or "none"
        prov["all_passed"] = doc.get("all_passed")
        out += ["| field | value |", "|---|---|"]
        out += [f"| {esc(k)} | `{esc(v if v is not None else '—')}` |" for k, v in prov.items()]
        out += [""]
    seed = (doc or {}).get("provenance", {}).get("seed", 0)
    overrides = (doc or {}).get("overrides") or {}
    rerun = f"kl-lab run {name} --seed {seed}" + "".join(
        f" --set {shlex.quote(f'{k}={cli_value(v)}')}" for k, v in overrides.items()
    )
    sets = " ".join(f"--set {shlex.quote(f'{k}={cli_value(v)}')}" for k, v in example[:2])
    out += [
        "## Rerun it",
        "",
        "From a clone, after `make venv` (or any command of the Makefile) has created `.venv` "
        "(prefix the commands with `.venv/bin/` or activate it):",
        "",
        "```bash",
        f"kl-lab run {name} --quick            # quick preset, seconds -> paper_figures/quick/{name}.{{png,json}}",
        f"{rerun}   # the committed run, full size -> paper_figures/{name}.{{png,pdf,json}}",
        f"kl-lab check {name} --quick          # only the check table; exit status 1 if a check fails",
        f"python experiments/{name}.py --quick   # the same, as a script",
        f"kl-lab run {name} --quick {sets}   # override Config fields (here: their defaults)",
        f"kl-lab show {name}                   # claim, paper, config fields and the last saved checks",
        "```",
        "",
        "Interrupted runs resume from the sweep cache (`paper_figures/.cache/`); `--fresh` recomputes. "
        "See [Reproducing a paper's figure](../guides/reproducing-a-figure.md).",
        "",
    ]
    return "\n".join(out)


def gallery_sections() -> list[tuple[str, list[str]]]:
    """The README gallery's headings and the experiments under each (the curated grouping)."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- GALLERY -->(.*?)<!-- /GALLERY -->", text, re.S)
    sections: list[tuple[str, list[str]]] = []
    for block in re.split(r"^### ", m.group(1) if m else "", flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        sections.append((title.strip(), re.findall(r"paper_figures/(\w+)\.png", body)))
    return sections


def gen_experiments() -> list[str]:
    from kl_lab import experiment

    names = experiment.list_experiments()
    rows: dict[str, str] = {}
    totals: dict[str, list[int]] = {o: [0, 0] for o in ORIGINS}
    n_fail_total = 0
    for name in names:
        try:
            module = experiment.load(name)
        except Exception as e:  # a broken experiment fails the build, after the others have their pages
            log.warning("experiment %s does not import: %s: %s", name, type(e).__name__, e)
            write(f"experiments/{name}.md", f"# {name}\n\nThis experiment failed to import when the site was built.\n")
            rows[name] = f"| — | [{name}]({name}.md) | — | does not import |"
            continue
        jpath = ROOT / "paper_figures" / f"{name}.json"
        doc = json.loads(jpath.read_text()) if jpath.exists() else None
        png = ROOT / "paper_figures" / f"{name}.png"
        figure = None
        if png.exists():
            copy_binary(png, f"experiments/figures/{name}.png")
            figure = f"figures/{name}.png"
        write(f"experiments/{name}.md", experiment_page(name, module, doc, figure))
        checks = (doc or {}).get("checks", [])
        counts = origin_counts(checks)
        for o, (p, t) in counts.items():
            totals[o][0] += p
            totals[o][1] += t
        n_fail = sum(not c.get("passed") for c in checks)
        n_fail_total += n_fail
        status = "no committed run" if doc is None else ("all passed" if not n_fail else f"**{n_fail} failed**")
        thumb = f"[![{esc(name)}]({figure}){{ width=220 }}]({name}.md)" if figure else "—"
        rows[name] = (
            f"| {thumb} | [{esc(module.TITLE)}]({name}.md)<br>`{name}` · {esc(module.PAPER.authors)} "
            f"({module.PAPER.year}) | {counts_text(counts)} | {status} |"
        )
    head = ["| figure | experiment | checks passed, by origin | status |", "|---|---|---|---|"]
    out = [
        "# Experiments",
        "",
        "One page per experiment: the claim and its paper, the figure, every theory check with its origin, "
        "the configuration and the provenance of the committed run, and the commands that rerun it. "
        "Generated at build time from `experiments/<name>.py` and `paper_figures/<name>.json`.",
        "",
        f"**{len(names)} experiments**, checks passed by origin over all of them: "
        + " · ".join(f"{o} {p}/{t}" for o, (p, t) in totals.items() if t)
        + (f" — **{n_fail_total} failed**" if n_fail_total else ""),
        "",
    ]
    placed: set[str] = set()
    for title, members in gallery_sections():
        members = [n for n in members if n in rows and n not in placed]
        if not members:
            continue
        out += [f"## {title}", "", *head, *(rows[n] for n in members), ""]
        placed.update(members)
    rest = [n for n in names if n not in placed]
    if rest:
        out += ["## Other experiments" if placed else "## All experiments", "", *head, *(rows[n] for n in rest), ""]
    write("experiments/index.md", "\n".join(out))
    write("experiments/SUMMARY.md", "* [Gallery](index.md)\n" + "".join(f"* [{n}]({n}.md)\n" for n in names))
    return names


# --------------------------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------------------------
def notebook_title(path: Path) -> str:
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", []))
            m = re.search(r"^#\s+(.+)$", src, re.M)
            if m:
                return m.group(1).strip()
    return path.stem


def gen_notebooks() -> list[str]:
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    executed = os.environ.get("KL_LAB_DOCS_EXECUTE", "").lower() in ("1", "true", "yes")
    out = [
        "# Notebooks",
        "",
        "One notebook per topic, importing the library and running in seconds. They are stored without "
        "outputs and executed top to bottom by the test suite (`tests/test_notebooks.py`).",
        "",
        (
            "This build executed them (`make docs-full`), so the outputs below are fresh."
            if executed
            else "This build shows them as stored, without outputs (`make docs`, fast, what CI builds); "
            "`make docs-full` executes them while building. Download one (right column) to run it."
        ),
        "",
        "| notebook | download |",
        "|---|---|",
    ]
    nav = ["* [Overview](index.md)"]
    for p in paths:
        copy_binary(p, f"notebooks/{p.name}")
        title = notebook_title(p)
        # mkdocs-jupyter (include_source) copies the notebook beside its page: a download link to it
        link = f'<a href="{p.stem}/{p.name}" download><code>notebooks/{p.name}</code></a>'
        out.append(f"| [{esc(title)}]({p.name}) | {link} |")
        nav.append(f"* [{title}]({p.name})")
    write("notebooks/index.md", "\n".join(out) + "\n")
    write("notebooks/SUMMARY.md", "\n".join(nav) + "\n")
    return [p.stem for p in paths]


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    gen_api()
    gen_experiments()
    gen_notebooks()


if __name__ in ("__main__", "<run_path>"):  # mkdocs-gen-files runs this file with runpy.run_path
    main()
