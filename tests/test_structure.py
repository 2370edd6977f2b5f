"""The package's structure: no import cycle inside ``kl_lab``, no private name imported across modules,
no module sharing its name with a function it exports, and ``import kl_lab`` reaching every subpackage.

Imports are read from the source with ``ast`` (every ``import``/``from ... import`` at any depth, except under
``if TYPE_CHECKING:``), so a cycle hidden in a function body counts too.
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kl_lab"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path):
    """Yield (imported module, imported name or None, lineno) for every kl_lab import of a module."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.startswith("kl_lab"):
                        yield a.name, None, child.lineno
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - child.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base.startswith("kl_lab"):
                    for a in child.names:
                        yield base, a.name, child.lineno
            yield from visit(child)

    yield from visit(tree)


def _edges():
    """module -> set of kl_lab modules it imports (a ``from pkg import sub`` of a submodule counts as sub)."""
    graph = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for base, attr, _ in _imports(m, p):
            target = f"{base}.{attr}" if attr and f"{base}.{attr}" in MODULES else base
            if target in MODULES and target != m:
                graph[m].add(target)
    return graph


def test_no_import_cycle():
    graph = _edges()
    # a package's __init__ importing its own submodules is re-export, not a cycle; drop submodule -> parent edges
    # that only reach the parent __init__ to fetch a sibling (they are resolved to the sibling above)
    state, stack, cycles = {}, [], []

    def dfs(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if u.startswith(v + ".") or v.startswith(u + "."):
                continue  # package <-> its own submodule (re-exports)
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v) :] + [v])
            elif v not in state:
                dfs(v)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles inside kl_lab:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_name_imported_across_modules():
    offences = []
    for m, p in MODULES.items():
        for base, attr, line in _imports(m, p):
            if attr and attr.startswith("_") and not attr.startswith("__") and base != m:
                offences.append(f"{p.relative_to(ROOT.parent)}:{line} imports {attr} from {base}")
    assert not offences, "private names imported across modules:\n" + "\n".join(offences)


def test_no_module_shares_a_name_with_a_function_it_exports():
    clashes = []
    for m in MODULES:
        pkg, _, leaf = m.rpartition(".")
        if not pkg or MODULES[m].name == "__init__.py":
            continue
        parent_init = MODULES.get(pkg)
        src = parent_init.read_text() if parent_init else ""
        tree = ast.parse(MODULES[m].read_text())
        defines = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if leaf in defines and ("import *" in src or f"import {leaf}" in src):
            clashes.append(f"{m} defines {leaf}() and is re-exported by {pkg}: `import {m} as M` is ambiguous")
    assert not clashes, "\n".join(clashes)


def test_import_kl_lab_reaches_every_subpackage_lazily():
    code = (
        "import sys, kl_lab; assert 'jax' not in sys.modules, 'import kl_lab must stay cheap';"
        "print(kl_lab.divergences.kl.__name__, kl_lab.alignment.__name__, kl_lab.stats.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["kl", "kl_lab.alignment", "kl_lab.stats"]


@pytest.mark.parametrize("name", ["kl_lab." + s for s in importlib.import_module("kl_lab").SUBMODULES])
def test_every_submodule_imports(name):
    importlib.import_module(name)
