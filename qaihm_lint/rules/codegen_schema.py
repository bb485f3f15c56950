"""The code-gen.yaml schema QAI702 checks against (upstream's ``configs/code_gen_yaml.py``).

Upstream validates the file with pydantic (``extra="forbid"``); linting may not import the code
it checks, nor depend on pydantic, so the schema is a small table here: the 31 fields of the
0.46.1 release with their types and cross-field rules. When the linted package ships its own
``configs/code_gen_yaml.py`` the field *names* are read from it (statically), so a tree of
another release is judged by its own schema; the canary devices that ``default_device`` must
name are read from its ``scorecard/device.py`` the same way.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qaihm_lint.rules._settings import as_bool
from qaihm_lint.sources import SourceError, SourceFile, note_access
from qaihm_lint.workspace import Package

# Checker: value -> None when valid, else what it should be.
Checker = Callable[[object], str | None]


def _bool(value: object) -> str | None:
    return None if as_bool(value) is not None else "true or false"


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a string (quote it: YAML reads an unquoted number, e.g. 3.10 becomes 3.1)"
    return "a string"


def _int(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return None
    return "an integer"


def _optional(check: Checker) -> Checker:
    def checker(value: object) -> str | None:
        return None if value is None else check(value)

    return checker


def _list_of(check: Checker, what: str) -> Checker:
    def checker(value: object) -> str | None:
        if not isinstance(value, list):
            return f"a list of {what}"
        for item in value:
            problem = check(item)
            if problem is not None:
                return f"a list of {what} (`{item!r}` is not)"
        return None

    return checker


def _mapping(value: object) -> str | None:
    return None if isinstance(value, dict) else "a mapping"


def _int_to_str(value: object) -> str | None:
    if not isinstance(value, dict):
        return "a mapping of output index to reason"
    for key, reason in value.items():
        if _int(key) is not None or not isinstance(reason, str):
            return "a mapping of output index (integer) to reason (string)"
    return None


# Precision names: Precision.parse in qai_hub_models/models/common.py.
KNOWN_PRECISIONS = (
    "float",
    "w8a8",
    "w8a16",
    "w16a16",
    "w4a16",
    "w4",
    "w8a8_mixed_int16",
    "w8a16_mixed_int16",
    "w8a8_mixed_fp16",
    "w8a16_mixed_fp16",
    "mxfp4",
    "mixed",
    "mixed_with_float",
)
MIXED_PRECISIONS = ("mixed", "mixed_with_float")
_PRECISION = re.compile(
    r"^(?:(?:w(?:4|8|16))?(?:a(?:8|16))?|(?:a(?:8|16))?(?:w(?:4|8|16))?)(?:_mixed_(?:int16|fp16))?$"
)
RUNTIMES = (
    "tflite",
    "qnn_dlc",
    "qnn_context_binary",
    "onnx",
    "precompiled_qnn_onnx",
    "genie",
    "onnxruntime_genai",
    "llama_cpp_cpu",
    "llama_cpp_gpu",
    "llama_cpp_npu",
)
GENAI_RUNTIMES = ("genie", "onnxruntime_genai", "llama_cpp_cpu", "llama_cpp_gpu", "llama_cpp_npu")
DISABLE_REASON_FIELDS: dict[str, Checker] = {
    "scorecard_failure": _optional(_str),
    "scorecard_accuracy_failure": _optional(_str),
    "issue": _optional(_str),
    "causes_timeout": _bool,
}


def is_precision(value: object, literals: Iterable[str] = KNOWN_PRECISIONS) -> bool:
    """A precision name: one of the parser's literal names, or weights/activations bits."""
    if not isinstance(value, str):
        return False
    return value in literals or (
        bool(value) and _PRECISION.match(value) is not None and value.strip("_") != ""
    )


# The fields of QAIHMModelCodeGen in the 0.46.1 release, with their types.
FIELDS: dict[str, Checker] = {
    "is_aimet": _bool,
    "supported_precisions": _list_of(_str, "precisions"),  # names: the rule checks them
    "num_calibration_samples": _optional(_int),
    "has_on_target_demo": _bool,
    "add_genie_url_to_export": _bool,
    "disabled_paths": _mapping,
    "default_device": _str,
    "check_trace": _bool,
    "outputs_to_skip_validation": _optional(_int_to_str),
    "is_collection_model": _bool,
    "skip_hub_tests_and_scorecard": _bool,
    "skip_scorecard": _bool,
    "freeze_perf_yaml": _bool,
    "is_precompiled": _bool,
    "requires_aot_prepare": _bool,
    "supported_genai_runtimes": _list_of(_str, "target runtimes"),  # names: the rule checks
    "skip_export": _bool,
    "global_requirements_incompatible": _bool,
    "pip_pre_build_reqs": _optional(_str),
    "pip_install_flags": _optional(_str),
    "pip_install_flags_gpu": _optional(_str),
    "torchscript_opt": _optional(_list_of(_str, "strings")),
    "inference_metrics": _str,
    "additional_readme_section": _str,
    "skip_example_usage": _bool,
    "inference_on_8gen3": _bool,
    "python_version_greater_than_or_equal_to": _optional(_str),
    "python_version_greater_than_or_equal_to_reason": _optional(_str),
    "python_version_less_than": _optional(_str),
    "python_version_less_than_reason": _optional(_str),
    "enable_pt2": _bool,
}
# CANARY_DEVICES of the 0.46.1 release (scorecard/device.py), for packages that do not ship
# that file; when it exists but cannot be resolved statically, default_device is not checked.
FALLBACK_CANARY_DEVICES = frozenset({"Samsung Galaxy S25 (Family)", "Snapdragon X Elite CRD"})

_ANNOTATION_CHECKERS: dict[str, Checker] = {
    "bool": _bool,
    "str": _str,
    "int": _int,
    "float": lambda v: (
        None if isinstance(v, (int, float)) and not isinstance(v, bool) else "a number"
    ),
}


def _checker_for_annotation(annotation: str) -> Checker | None:
    text = annotation.replace(" ", "")
    optional = text.endswith("|None") or text.startswith("Optional[")
    core = text.removesuffix("|None")
    if core.startswith("Optional[") and core.endswith("]"):
        core = core[len("Optional[") : -1]
    base = _ANNOTATION_CHECKERS.get(core)
    if base is None:
        if core.startswith(("list[", "List[")):
            base = _list_of(lambda v: None, "items")
        elif core.startswith(("dict[", "Dict[")):
            base = _mapping
        else:
            return None
    return _optional(base) if optional else base


@dataclass(frozen=True)
class Schema:
    fields: Mapping[str, Checker | None] | None  # None: a free-form file (no key/type checks)
    canary_devices: frozenset[str] | None
    origin: str
    # Precision names the package's Precision.parse accepts literally (besides the wNaM grammar)
    # and the values of its TargetRuntime enum; the built-in 0.46.1 lists where it has neither.
    precisions: frozenset[str] = frozenset(KNOWN_PRECISIONS)
    runtimes: frozenset[str] = frozenset(RUNTIMES)

    def is_precision(self, value: object) -> bool:
        return is_precision(value, self.precisions)

    def is_runtime(self, value: object) -> bool:
        return value in self.runtimes


def _stat_key(path: Path) -> tuple[Path, float, int] | None:
    # The parse is cached per process, so the file is noted on every use, not on the read.
    note_access(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    return (path, stat.st_mtime, stat.st_size)


@lru_cache(maxsize=8)
def _schema_fields(key: tuple[Path, float, int]) -> dict[str, str] | None:
    """Field name -> annotation text of QAIHMModelCodeGen in the package's own schema file."""
    try:
        tree = ast.parse(SourceFile(key[0]).text)
    except (SourceError, SyntaxError, ValueError, RecursionError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "QAIHMModelCodeGen":
            fields = {
                statement.target.id: ast.unparse(statement.annotation)
                for statement in node.body
                if isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and not statement.target.id.startswith("_")
                and "ClassVar" not in ast.unparse(statement.annotation)
            }
            return fields or None
    return None


@lru_cache(maxsize=8)
def _canary_devices(key: tuple[Path, float, int]) -> frozenset[str] | None:
    """CANARY_DEVICES of the package's scorecard/device.py, when every member is resolvable."""
    try:
        tree = ast.parse(SourceFile(key[0]).text)
    except (SourceError, SyntaxError, ValueError, RecursionError):
        return None
    default: str | None = None
    members: list[ast.expr] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(
            k.arg == "is_default" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        ):
            names = {k.arg: k.value for k in node.keywords}
            for field_name in ("execution_device_name", "reference_device_name"):
                value = names.get(field_name)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    default = value.value
                    break
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, (ast.Set, ast.List, ast.Tuple))
            and any(isinstance(t, ast.Name) and t.id == "CANARY_DEVICES" for t in node.targets)
        ):
            members = list(node.value.elts)
    if members is None:
        return None
    out = set()
    for member in members:
        if isinstance(member, ast.Constant) and isinstance(member.value, str):
            out.add(member.value)
        elif isinstance(member, ast.Name) and member.id == "DEFAULT_EXPORT_DEVICE" and default:
            out.add(default)
        else:
            return None
    return frozenset(out)


@dataclass(frozen=True)
class Vocabulary:
    """What the package's ``common.py`` says: precision literals and target runtimes."""

    precisions: frozenset[str] | None
    runtimes: frozenset[str] | None


def _string_compares(function: ast.FunctionDef) -> set[str]:
    """The string constants ``function`` compares something with ``==`` to."""
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Compare) and all(isinstance(o, ast.Eq) for o in node.ops):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and isinstance(side.value, str):
                    found.add(side.value)
    return found


@lru_cache(maxsize=8)
def _vocabulary(key: tuple[Path, float, int]) -> Vocabulary:
    try:
        tree = ast.parse(SourceFile(key[0]).text)
    except (SourceError, SyntaxError, ValueError, RecursionError):
        return Vocabulary(None, None)
    precisions: frozenset[str] | None = None
    runtimes: frozenset[str] | None = None
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        if node.name == "Precision":
            parse = next(
                (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "parse"),
                None,
            )
            if parse is not None:
                precisions = frozenset(_string_compares(parse))
        elif node.name == "TargetRuntime":
            runtimes = frozenset(
                statement.value.value
                for statement in node.body
                if isinstance(statement, ast.Assign)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            )
    return Vocabulary(precisions or None, runtimes or None)


def vocabulary_for(package: Package | None) -> Vocabulary:
    """The package's precision and runtime names (``common.py``, ``models/common.py`` before
    0.55); None for what it does not define."""
    if package is None:
        return Vocabulary(None, None)
    for relative in ("common.py", "models/common.py"):
        key = _stat_key(package.root / relative)
        if key is not None:
            found = _vocabulary(key)
            if found.precisions is not None or found.runtimes is not None:
                return found
    return Vocabulary(None, None)


def schema_for(package: Package | None) -> Schema:
    """The schema a package's code-gen.yaml files answer to.

    ``configs/code_gen_yaml.py`` (0.4x releases) or, before it, the class of the same name in
    ``utils/config_loaders.py`` (its field names are read statically); a package whose
    config_loaders.py has no such class (the earliest releases read code-gen.yaml as a free-form
    dict) gets no key or type checks; a package with neither (a synthetic or partial tree) gets
    the built-in 0.46.1 table.
    """
    if package is None:
        return Schema(dict(FIELDS), FALLBACK_CANARY_DEVICES, "the 0.46.1 schema")
    fields: dict[str, Checker | None] | None = None
    origin = "the 0.46.1 schema"
    found_loader = False
    for relative in ("configs/code_gen_yaml.py", "utils/config_loaders.py"):
        key = _stat_key(package.root / relative)
        if key is None:
            continue
        found_loader = True
        names = _schema_fields(key)
        if names:
            fields = {
                name: FIELDS.get(name) or _checker_for_annotation(annotation)
                for name, annotation in names.items()
            }
            origin = relative
            break
    device_key = _stat_key(package.root / "scorecard" / "device.py")
    if fields is None and found_loader:
        return Schema(None, None, "a free-form code-gen.yaml")
    if fields is None:
        fields = dict(FIELDS)
    if device_key is not None:
        canary = _canary_devices(device_key)
    else:
        canary = FALLBACK_CANARY_DEVICES if origin == "the 0.46.1 schema" else None
    words = vocabulary_for(package)
    return Schema(
        fields,
        canary,
        origin,
        words.precisions or frozenset(KNOWN_PRECISIONS),
        words.runtimes or frozenset(RUNTIMES),
    )


def did_you_mean(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean `{match[0]}`?" if match else ""
