"""The rule catalogue: the one place where a rule's identity is written.

Each row gives a code its slug, the class that implements it (``module:Class`` under
``qaihm_lint.rules``), the kind of that class, and whether it is on by default. Rule classes
name no code: ``Rule.__init_subclass__`` stamps code, slug and default on the class from its
row, and the registry checks that the class is of the kind written here when it loads it.

Selection, suppression bookkeeping and a run answered from the cache need only this table, so
they never import the rule modules (nor YAML, packaging or the index that those import).
Adding a rule is one row here plus the class in its module.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["builtin", "folder", "python", "package", "runtime"]


class Entry(NamedTuple):
    slug: str
    rule: str  # "module:Class" under qaihm_lint.rules
    kind: Kind
    enabled_by_default: bool = True

    @property
    def module(self) -> str:
        return self.rule.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.rule.partition(":")[2]


CATALOGUE: dict[str, Entry] = {
    "QAI000": Entry("syntax-error", "meta:SyntaxErrorRule", "builtin"),
    "QAI001": Entry("unused-noqa", "meta:UnusedNoqa", "builtin"),
    "QAI002": Entry("internal-error", "meta:InternalError", "builtin"),
    "QAI101": Entry("missing-required-file", "files:MissingRequiredFile", "folder"),
    "QAI102": Entry("missing-model-class", "model_class.model_class:MissingModelClass", "folder"),
    "QAI103": Entry("missing-model-export", "files:MissingModelExport", "folder"),
    "QAI104": Entry("evaluate-mismatch", "model_class.model_class:EvaluateMismatch", "folder"),
    "QAI105": Entry("broken-local-import", "imports:BrokenLocalImport", "folder"),
    "QAI106": Entry("foreign-model-import", "imports:ForeignModelImport", "folder"),
    "QAI201": Entry(
        "missing-required-method", "model_class.required_methods:MissingRequiredMethod", "folder"
    ),
    "QAI202": Entry(
        "from-pretrained-not-classmethod",
        "model_class.from_pretrained:FromPretrainedNotClassmethod",
        "folder",
    ),
    "QAI203": Entry(
        "from-pretrained-arg-without-default",
        "model_class.from_pretrained:FromPretrainedArgWithoutDefault",
        "folder",
    ),
    "QAI204": Entry(
        "expected-staticmethod", "model_class.spec_methods:ExpectedStaticmethod", "folder"
    ),
    "QAI205": Entry(
        "input-spec-arg-without-default",
        "model_class.spec_methods:InputSpecArgWithoutDefault",
        "folder",
        enabled_by_default=False,
    ),
    "QAI206": Entry(
        "litemp-percentage-range", "model_class.litemp:LitempPercentageRange", "folder"
    ),
    "QAI301": Entry("unpinned-requirement", "requirements.pins:UnpinnedRequirement", "folder"),
    "QAI302": Entry(
        "global-requirements-conflict",
        "requirements.global_env:GlobalRequirementsConflict",
        "folder",
    ),
    "QAI303": Entry(
        "stale-incompatible-flag", "requirements.global_env:StaleIncompatibleFlag", "folder"
    ),
    "QAI304": Entry(
        "invalid-requirement", "requirements.requirement_lines:InvalidRequirement", "folder"
    ),
    "QAI305": Entry(
        "duplicate-requirement", "requirements.requirement_lines:DuplicateRequirement", "folder"
    ),
    "QAI306": Entry(
        "cross-model-requirement-conflict",
        "requirements.cross_model:CrossModelRequirementConflict",
        "package",
    ),
    "QAI307": Entry("inexact-requirement", "requirements.pins:InexactRequirement", "folder"),
    "QAI401": Entry(
        "source-as-root-unpinned-commit",
        "source_as_root.source_as_root:SourceAsRootUnpinnedCommit",
        "folder",
    ),
    "QAI402": Entry(
        "source-as-root-at-import",
        "source_as_root.source_as_root:SourceAsRootAtImport",
        "folder",
        enabled_by_default=False,
    ),
    "QAI403": Entry(
        "source-as-root-pip-installable",
        "source_as_root.install:SourceAsRootPipInstallable",
        "folder",
    ),
    "QAI404": Entry(
        "source-as-root-missing-patch", "source_as_root.install:SourceAsRootMissingPatch", "folder"
    ),
    "QAI405": Entry(
        "source-as-root-used",
        "source_as_root.source_as_root:SourceAsRootUsed",
        "folder",
        enabled_by_default=False,
    ),
    "QAI406": Entry(
        "sys-path-manipulation", "source_as_root.sys_path:SysPathManipulation", "folder"
    ),
    "QAI501": Entry("hardcoded-cuda", "gpu:HardcodedCuda", "python"),
    "QAI502": Entry("torch-load-without-map-location", "gpu:TorchLoadWithoutMapLocation", "python"),
    "QAI601": Entry("missing-test", "tests_rules:MissingTest", "python"),
    "QAI602": Entry("trace-test-without-marker", "tests_rules:TraceTestWithoutMarker", "python"),
    "QAI701": Entry("invalid-info-yaml", "metadata:InvalidInfoYaml", "folder"),
    "QAI702": Entry("invalid-code-gen-yaml", "codegen:InvalidCodeGenYaml", "folder"),
    "QAI703": Entry(
        "missing-model-asset-version",
        "model_class.asset_version:MissingModelAssetVersion",
        "python",
    ),
    "QAI801": Entry("import-failed", "deep:ImportFailed", "runtime"),
    "QAI802": Entry("from-pretrained-failed", "deep:FromPretrainedFailed", "runtime"),
    "QAI803": Entry("invalid-input-spec", "deep:InvalidInputSpec", "runtime"),
    "QAI804": Entry("output-names-mismatch", "deep:OutputNamesMismatch", "runtime"),
    "QAI805": Entry("trace-failed", "deep:TraceFailed", "runtime"),
    "QAI806": Entry("trace-divergence", "deep:TraceDivergence", "runtime"),
    "QAI807": Entry("onnx-export-failed", "deep:OnnxExportFailed", "runtime"),
    "QAI808": Entry("compile-failed", "deep:CompileFailed", "runtime"),
    "QAI809": Entry("deep-timeout", "deep:DeepTimeout", "runtime"),
}

# The code of each rule class, by "module:Class".
CODE_OF_CLASS: dict[str, str] = {entry.rule: code for code, entry in CATALOGUE.items()}
