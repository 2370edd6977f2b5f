"""Placeholder: filled in by the divergences issue."""

__all__: list[str] = []
