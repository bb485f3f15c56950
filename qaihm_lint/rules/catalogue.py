"""The rule catalogue as plain data: code -> slug, module, kind, on by default.

Selection, suppression bookkeeping and a run answered from the cache need only this, so they
never import the rule modules (and what those import: YAML, packaging, the index). The rule
classes stay the source of truth: ``tests/test_rule_examples.py`` checks that this table
matches them exactly, and prints the table to paste when a rule is added.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["builtin", "folder", "python", "package", "runtime"]


class Entry(NamedTuple):
    slug: str
    module: str  # under qaihm_lint.rules
    kind: Kind
    enabled_by_default: bool


CATALOGUE: dict[str, Entry] = {
    "QAI000": Entry("syntax-error", "meta", "builtin", True),
    "QAI001": Entry("unused-noqa", "meta", "builtin", True),
    "QAI002": Entry("internal-error", "meta", "builtin", True),
    "QAI101": Entry("missing-required-file", "files", "folder", True),
    "QAI102": Entry("missing-model-class", "model_class", "folder", True),
    "QAI103": Entry("missing-model-export", "files", "folder", True),
    "QAI104": Entry("evaluate-mismatch", "model_class", "folder", True),
    "QAI105": Entry("broken-local-import", "imports", "folder", True),
    "QAI106": Entry("foreign-model-import", "imports", "folder", True),
    "QAI201": Entry("missing-required-method", "required_methods", "folder", True),
    "QAI202": Entry("from-pretrained-not-classmethod", "from_pretrained", "folder", True),
    "QAI203": Entry("from-pretrained-arg-without-default", "from_pretrained", "folder", True),
    "QAI204": Entry("expected-staticmethod", "spec_methods", "folder", True),
    "QAI205": Entry("input-spec-arg-without-default", "spec_methods", "folder", False),
    "QAI206": Entry("litemp-percentage-range", "litemp", "python", True),
    "QAI301": Entry("unpinned-requirement", "pins", "folder", True),
    "QAI302": Entry("global-requirements-conflict", "global_env", "folder", True),
    "QAI303": Entry("stale-incompatible-flag", "global_env", "folder", True),
    "QAI304": Entry("invalid-requirement", "requirement_lines", "folder", True),
    "QAI305": Entry("duplicate-requirement", "requirement_lines", "folder", True),
    "QAI306": Entry("cross-model-requirement-conflict", "cross_model", "package", True),
    "QAI307": Entry("inexact-requirement", "pins", "folder", False),
    "QAI401": Entry("source-as-root-unpinned-commit", "source_as_root", "folder", True),
    "QAI402": Entry("source-as-root-at-import", "source_as_root", "folder", False),
    "QAI403": Entry("source-as-root-pip-installable", "source_as_root_install", "folder", True),
    "QAI404": Entry("source-as-root-missing-patch", "source_as_root_install", "folder", True),
    "QAI405": Entry("source-as-root-used", "source_as_root", "folder", False),
    "QAI406": Entry("sys-path-manipulation", "sys_path", "folder", True),
    "QAI501": Entry("hardcoded-cuda", "gpu", "python", True),
    "QAI502": Entry("torch-load-without-map-location", "gpu", "python", True),
    "QAI601": Entry("missing-test", "tests_rules", "python", True),
    "QAI602": Entry("trace-test-without-marker", "tests_rules", "python", True),
    "QAI701": Entry("invalid-info-yaml", "metadata", "folder", True),
    "QAI702": Entry("invalid-code-gen-yaml", "codegen", "folder", True),
    "QAI703": Entry("missing-model-asset-version", "asset_version", "python", True),
    "QAI801": Entry("import-failed", "deep", "runtime", True),
    "QAI802": Entry("from-pretrained-failed", "deep", "runtime", True),
    "QAI803": Entry("invalid-input-spec", "deep", "runtime", True),
    "QAI804": Entry("output-names-mismatch", "deep", "runtime", True),
    "QAI805": Entry("trace-failed", "deep", "runtime", True),
    "QAI806": Entry("trace-divergence", "deep", "runtime", True),
    "QAI807": Entry("onnx-export-failed", "deep", "runtime", True),
    "QAI808": Entry("compile-failed", "deep", "runtime", True),
    "QAI809": Entry("deep-timeout", "deep", "runtime", True),
}
