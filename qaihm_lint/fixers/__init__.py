"""Edits that repair findings: libcst codemods for Python, one-line edits for text and YAML."""
