"""Renderers of a Report: Markdown and JSON."""
