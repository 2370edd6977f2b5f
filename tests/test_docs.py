"""The documentation site builds with warnings as errors, and what it shows is whole.

One build per test session (shared by the xdist workers through a lock file): ``properdocs build
--strict`` as ``make docs`` runs it, notebooks rendered as stored. Then every page is opened: every
internal link, anchor and image resolves; every experiment has its page with its check table and the
origin of each check; every public name of ``kl_lab`` has an entry in the API reference.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from kl_lab import experiment as exp_lib

ROOT = Path(__file__).resolve().parents[1]

if not os.environ.get("CI"):  # CI installs the docs group (make test installs .[dev]); elsewhere it may be absent
    pytest.importorskip("properdocs")
    pytest.importorskip("mkdocstrings_handlers.python")

pytestmark = pytest.mark.slow


def build(site: Path) -> dict:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true", "MPLBACKEND": "Agg"}
    env.pop("KL_LAB_DOCS_EXECUTE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "properdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {"rc": proc.returncode, "log": proc.stdout + proc.stderr, "seconds": time.perf_counter() - t0}


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Path, dict]:
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:  # one build for all workers of this run
        base = tmp_path_factory.getbasetemp().parent / f"docs-{run_id}"
        base.mkdir(exist_ok=True)
    else:
        base = tmp_path_factory.mktemp("docs")
    site, result = base / "site", base / "result.json"
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_text(json.dumps(build(site)))
    return site, json.loads(result.read_text())


@pytest.fixture(scope="session")
def site(built) -> Path:
    site, result = built
    assert result["rc"] == 0, f"the docs build failed (warnings are errors):\n{result['log'][-6000:]}"
    return site


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag, url)
        self.text: list[str] = []
        self.classes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("name") and tag == "a":
            self.ids.add(a["name"])
        self.classes.update((a.get("class") or "").split())
        for attr in ("href", "src"):
            if a.get(attr) is not None and tag in ("a", "img", "link", "script", "source"):
                self.refs.append((tag, a[attr]))

    def handle_data(self, data):
        self.text.append(data)


_PAGES: dict[Path, Page] = {}


def page(path: Path) -> Page:
    if path not in _PAGES:
        p = Page()
        p.feed(path.read_text(encoding="utf-8"))
        _PAGES[path] = p
    return _PAGES[path]


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_site_builds_without_warnings(built):
    _, result = built
    assert result["rc"] == 0, result["log"][-6000:]
    warnings = [line for line in result["log"].splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)


def test_every_internal_link_anchor_and_image_resolves(site):
    broken = []
    for path in html_pages(site):
        if path.name == "404.html":  # served at any depth: its links are absolute to the site root
            continue
        for tag, url in page(path).refs:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir() or parts.path.endswith("/"):
                target = target / "index.html"
            rel = path.relative_to(site)
            if not target.exists():
                broken.append(f"{rel}: <{tag}> {url} -> missing {target}")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in page(target).ids:
                    broken.append(f"{rel}: <{tag}> {url} -> no anchor #{parts.fragment}")
    assert not broken, f"{len(broken)} broken internal references:\n" + "\n".join(broken[:50])


def test_every_experiment_has_its_page_with_checks_and_origins(site):
    names = exp_lib.list_experiments()
    assert names
    index = (site / "experiments" / "index.html").read_text()
    for name in names:
        path = site / "experiments" / name / "index.html"
        assert path.exists(), f"experiment {name} has no page"
        html, text = path.read_text(), "".join(page(path).text)
        assert f'href="{name}/"' in index, f"the gallery does not link {name}"
        assert f"kl-lab run {name} --quick" in text and "--set" in text, f"{name}: rerun commands missing"
        assert "Configuration" in text and "Provenance" in text
        saved = ROOT / "paper_figures" / f"{name}.json"
        if not saved.exists():
            assert "No committed run" in text
            continue
        assert "kl-checks" in page(path).classes, f"{name}: no check table"
        doc = json.loads(saved.read_text())
        for c in doc["checks"]:
            assert c["name"] in text, f"{name}: check {c['name']} missing from its page"
            origin = c.get("origin") or "unspecified"
            assert f"kl-origin-{origin}" in html, f"{name}: origin {origin} of {c['name']} not shown"
        if (ROOT / "paper_figures" / f"{name}.png").exists():
            assert (site / "experiments" / "figures" / f"{name}.png").exists()
            assert f"figures/{name}.png" in html


def public_leaf_modules() -> list[str]:
    """Every public module file of kl_lab (package ``__init__`` files only re-export)."""
    out = []
    for p in sorted((ROOT / "kl_lab").rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        if any(part.startswith("_") for part in rel.parts):
            continue
        out.append(".".join(rel.parts))
    return out


def test_api_reference_covers_every_public_name(site):
    ids: set[str] = set()
    for path in (site / "api").rglob("*.html"):
        ids |= page(path).ids
    missing = []
    for mod_name in public_leaf_modules():
        if mod_name not in ids:
            missing.append(mod_name)
            continue
        module = importlib.import_module(mod_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == mod_name
            ]
        missing += [f"{mod_name}.{n}" for n in names if f"{mod_name}.{n}" not in ids]
    assert not missing, f"{len(missing)} public names without an API entry:\n" + "\n".join(missing)


def test_notebooks_and_guides_have_pages(site):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / nb.stem / "index.html").exists(), f"notebook {nb.name} has no page"
    for guide in sorted((ROOT / "docs" / "guides").glob("*.md")):
        assert (site / "guides" / guide.stem / "index.html").exists()


def test_readme_links_to_the_guides():
    readme = (ROOT / "README.md").read_text()
    for guide in sorted((ROOT / "docs" / "guides").glob("*.md")):
        assert f"docs/guides/{guide.name}" in readme, f"README does not link the guide {guide.name}"


# ------------------------------------------------------------------------------------------------
# the generator's and the griffe extension's pieces, without a build
# ------------------------------------------------------------------------------------------------
def _load_docs_module(name: str):
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        spec = importlib.util.spec_from_file_location(f"kl_lab_docs_{name}", ROOT / "docs" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "docs"))


def test_a_check_without_origin_is_unspecified():
    gen = _load_docs_module("gen_pages")
    checks = [
        {"name": "a", "passed": True},
        {"name": "b", "passed": False, "origin": "paper", "origin_detail": "Thm 3.1 (v3)"},
        {"name": "c", "passed": True, "origin": "law"},
    ]
    assert gen.origin_counts(checks) == {"paper": (0, 1), "law": (1, 1), "unspecified": (1, 1)}
    table = gen.checks_table(checks)
    assert "kl-origin-unspecified" in table and "kl-origin-paper" in table and "Thm 3.1 (v3)" in table
    assert "FAIL" in table
    assert gen.fmt_value([[1.0, 3.0], [2.0, "inf"]]) == "4 values in [1, inf]"
    assert gen.cli_value(((0.2, 0.1), (1, 0.4))) == "0.2,0.1;1,0.4" and gen.cli_value(True) == "true"


def test_docstring_spellings_become_markdown():
    roles = _load_docs_module("griffe_roles")
    grouped = "Summary.\n\nArgs:\n  x, y: the two inputs,\n    same shape.\n  z: other.\n"
    assert roles.split_grouped_params(grouped) == (
        "Summary.\n\nArgs:\n  x: the two inputs,\n    same shape.\n  y: the two inputs,\n    same shape.\n  z: other.\n"
    )
    fenced = roles.fence_doctests("Example:\n  >>> 1 + 1\n  2\n")
    assert "  ```pycon\n  >>> 1 + 1\n  2\n  ```" in fenced
    literal = roles.convert_literal_blocks("The estimator::\n\n    D = sum p log(p/q)\n\nends.")
    assert literal == "The estimator:\n\n```text\nD = sum p log(p/q)\n```\n\nends."


def test_docstring_references_resolve_or_warn(caplog):
    griffe = pytest.importorskip("griffe")
    roles = _load_docs_module("griffe_roles")
    pkg = griffe.load("kl_lab", search_paths=[str(ROOT)], docstring_parser="google")
    module = pkg["checks"]
    name = next(m.name for m in module.members.values() if not m.is_alias and m.is_function and m.is_public)
    obj = module[name]  # a reference from inside the module, relative and absolute (shortened)
    out = roles.convert_roles(f":func:`{name}` and :func:`~kl_lab.checks.{name}`", obj, pkg)
    assert out == f"[`{name}()`][kl_lab.checks.{name}] and [`{name}()`][kl_lab.checks.{name}]"
    assert roles.convert_roles(":class:`jax.Array`", obj, pkg) == "`jax.Array`"
    with caplog.at_level("WARNING"):
        assert roles.convert_roles(":func:`kl_lab.no_such_thing`", obj, pkg) == "`kl_lab.no_such_thing()`"
    assert "does not resolve" in caplog.text


def test_the_divergence_guide_example_runs():
    text = (ROOT / "docs" / "guides" / "adding-a-divergence.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "adding-a-divergence.md", "exec"), namespace)
    assert bool(namespace["jnp"].all(namespace["jnp"].isfinite(namespace["grad"])))
