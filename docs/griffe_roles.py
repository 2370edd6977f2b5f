"""Griffe extension for the API reference: the Sphinx spellings the docstrings use, read as Markdown.

The docstrings are Google style ("Args:", "Returns:", "Example:") with two reStructuredText habits
that mkdocstrings would otherwise print literally:

* roles -- ``:func:`~kl_lab.sweep.sweep``` and friends (``func``, ``class``, ``mod``, ``meth``,
  ``data``, ``attr``, ``obj``, ``exc``) become cross-references. A name is resolved the way Sphinx
  does it: absolute (``kl_lab.…``), else relative to the object, then to each enclosing scope. A
  name outside ``kl_lab`` (``jax.Array``) is shown as code. A ``kl_lab`` name that resolves to
  nothing is a broken reference and logged as a warning, which fails the strict build.
* grouped arguments -- ``x, y: description`` in an *Args* section becomes one entry per name;
* doctests -- ``>>>`` lines under *Example:* (which griffe reads as an admonition, not an *Examples*
  section) become fenced ``pycon`` code instead of text;
* literal blocks -- a paragraph ending in ``::`` followed by an indented block becomes the
  paragraph (ending in ``:``) and a fenced code block, so formulas written as text keep their layout.

Loaded by mkdocstrings-python (``extensions:`` in mkdocs.yml); no library file is changed.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

import griffe

logger = logging.getLogger("mkdocs.plugins.kl_lab.griffe_roles")

ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|data|attr|obj|exc|const|type):`([^`]+)`")
PACKAGE = "kl_lab"


def _lookup(scope: Any, dotted: str) -> Any | None:
    try:
        return scope[dotted]
    except Exception:  # KeyError, AliasResolutionError, CyclicAliasError...
        return None


def _canonical(obj: Any) -> str:
    if isinstance(obj, griffe.Alias):
        try:
            target = obj.final_target
        except Exception:
            return obj.path
        # re-exported from a private module: the public (alias) path is the documented one
        if any(part.startswith("_") and not part.startswith("__") for part in target.path.split(".")):
            return obj.path
        return target.path
    return obj.path


def resolve(obj: Any, target: str, root: Any) -> str | None:
    """The documented path of ``target`` as seen from ``obj``, or None."""
    if target == PACKAGE:
        return PACKAGE
    if target.startswith(PACKAGE + "."):
        found = _lookup(root, target[len(PACKAGE) + 1 :])
        return _canonical(found) if found is not None else None
    scope = obj
    while scope is not None:
        found = _lookup(scope, target)
        if found is not None:
            return _canonical(found)
        scope = scope.parent
    return None


def _documented(path: str, root: Any) -> bool:
    """Whether the API reference renders ``path`` (public members of public modules)."""
    if path == PACKAGE:
        return True
    obj = _lookup(root, path[len(PACKAGE) + 1 :])
    while obj is not None and obj is not root:
        try:
            if not obj.is_public:
                return False
        except Exception:
            return False
        obj = obj.parent
    return True


def _external(target: str) -> bool:
    top = target.split(".", 1)[0]
    if not top or top == PACKAGE:
        return False
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def convert_roles(text: str, obj: Any, root: Any) -> str:
    def repl(m: re.Match) -> str:
        raw = m.group(2).strip()
        short = raw.startswith("~")
        target = raw.lstrip("~").removesuffix("()")
        title = raw.split("<", 1)[0].strip() if "<" in raw else None  # :func:`title <target>`
        if "<" in raw:
            target = raw.split("<", 1)[1].rstrip(">").strip().removesuffix("()")
        shown = title or (target.rsplit(".", 1)[-1] if short else target)
        if m.group(1) in ("func", "meth") and not title:
            shown += "()"
        path = resolve(obj, target, root)
        if path is None:
            if not _external(target):
                logger.warning("%s: docstring reference %s does not resolve", obj.path, m.group(0))
            return f"`{shown}`"
        if not _documented(path, root):  # exists, but private: no page to link to
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"

    return ROLE.sub(repl, text)


def convert_literal_blocks(text: str) -> str:
    """``para::`` + blank line + indented block -> ``para:`` + fenced block (reST literal block)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and line.strip() != "::" and i + 1 < len(lines):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            base = len(line) - len(line.lstrip())
            if j < len(lines) and len(lines[j]) - len(lines[j].lstrip()) > base:
                block: list[str] = []
                k = j
                while k < len(lines) and (not lines[k].strip() or len(lines[k]) - len(lines[k].lstrip()) > base):
                    block.append(lines[k])
                    k += 1
                while block and not block[-1].strip():
                    block.pop()
                indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                pad = " " * base
                out.append(line.rstrip()[:-1])
                out.append("")
                out.append(pad + "```text")
                out.extend(pad + b[indent:] if b.strip() else "" for b in block)
                out.append(pad + "```")
                out.append("")
                i = k
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


ARGS_HEADER = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters):\s*$"
)  # noqa: E501
GROUPED = re.compile(r"^(\s+)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+)(\s*\([^)]*\))?:(\s.*|)$")


def split_grouped_params(text: str) -> str:
    """``x, y: description`` in an Args section -> one entry per name, each with the description."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        h = ARGS_HEADER.match(lines[i])
        i += 1
        if not h:
            continue
        base = len(h.group(1))
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
            m = GROUPED.match(lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            item_indent = len(m.group(1))
            j = i + 1
            while j < len(lines) and lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) > item_indent:
                j += 1
            cont = lines[i + 1 : j]
            for name in (n.strip() for n in m.group(2).split(",")):
                out.append(f"{m.group(1)}{name}{m.group(3) or ''}:{m.group(4)}")
                out.extend(cont)
            i = j
    return "\n".join(out)


DOCTEST = re.compile(r"^(\s*)>>> ")


def fence_doctests(text: str) -> str:
    """Runs of ``>>>`` lines and their output, outside an Examples section, as fenced ``pycon`` code."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        m = DOCTEST.match(line) if not in_fence else None
        if not m:
            out.append(line)
            i += 1
            continue
        pad = m.group(1)
        j = i
        while j < len(lines) and lines[j].strip() and lines[j].startswith(pad):
            j += 1
        if out and out[-1].strip():
            out.append("")
        out += [pad + "```pycon", *lines[i:j], pad + "```", ""]
        i = j
    return "\n".join(out)


class SphinxSpellings(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != PACKAGE:
            return
        seen: set[int] = set()

        def visit(obj: Any) -> None:
            if id(obj) in seen or isinstance(obj, griffe.Alias):
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                text = fence_doctests(split_grouped_params(convert_literal_blocks(obj.docstring.value)))
                obj.docstring.value = convert_roles(text, obj, pkg)
            for member in list(obj.members.values()):
                visit(member)

        visit(pkg)
