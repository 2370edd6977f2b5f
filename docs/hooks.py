"""MkDocs hook: the generated literate-nav files (``*/SUMMARY.md``) shape the navigation, they are no pages."""


def on_files(files, config):
    for f in files:
        if f.src_uri == "SUMMARY.md" or f.src_uri.endswith("/SUMMARY.md"):
            f.inclusion = type(f.inclusion).EXCLUDED  # the enum of whichever builder runs (MkDocs or ProperDocs)
    return files
