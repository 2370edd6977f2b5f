"""MkDocs hooks of the site (``hooks:`` in mkdocs.yml).

* the literate-nav files (``SUMMARY.md``, some generated) shape the navigation: they are no pages;
* notebook pages: table-of-contents entries point at their headings' anchors.
"""

import re


def on_files(files, config):
    for f in files:
        if f.src_uri == "SUMMARY.md" or f.src_uri.endswith("/SUMMARY.md"):
            f.inclusion = type(f.inclusion).EXCLUDED  # the enum of whichever builder runs (MkDocs or ProperDocs)
    return files


def on_page_content(html, page, config, files):
    """Notebook pages: mkdocs-jupyter slugs table-of-contents entries without the heading's code spans
    (``#library-functions-are-pure``) while nbconvert keeps them in the anchor
    (``#library-functions-are-pure-jit-vmap-grad``); point each entry at its heading's anchor."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    ids = set(re.findall(r'\bid="([^"]+)"', html))

    def fix(items):
        for item in items:
            if item.id not in ids:
                match = [i for i in ids if i.startswith(item.id + "-")]
                if len(match) == 1:
                    item.id = match[0]
            fix(item.children)

    fix(page.toc)
    return html
