"""code-gen.yaml against upstream's schema (``qai_hub_models/configs/code_gen_yaml.py``) (QAI702).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout, Package

CODE_GEN = "code-gen.yaml"
FLAG = "global_requirements_incompatible"

# Checker: value -> None when valid, else what it should be.
Checker = Callable[[object], str | None]

_BOOL_STRINGS = {"0", "1", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}


def _bool(value: object) -> str | None:
    # pydantic's lax mode: true/false, 0/1 and their usual spellings.
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return None
    if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
        return None
    return "true or false"


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


def is_precision(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return value in KNOWN_PRECISIONS or (
        bool(value) and _PRECISION.match(value) is not None and value.strip("_") != ""
    )


def _precision(value: object) -> str | None:
    return None if is_precision(value) else "a precision"


def _runtime(value: object) -> str | None:
    return None if value in RUNTIMES else "a target runtime"


# The fields of QAIHMModelCodeGen in the 0.46.1 release, with their types.
FIELDS: dict[str, Checker] = {
    "is_aimet": _bool,
    "supported_precisions": _list_of(_precision, "precisions"),
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
    "supported_genai_runtimes": _list_of(_runtime, "target runtimes"),
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


def _stat_key(path: Path) -> tuple[Path, float, int] | None:
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
    return Schema(fields, canary, origin)


def did_you_mean(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean `{match[0]}`?" if match else ""


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off", "f", "n")
    return bool(value)


_GOOD = """\
# Options for export.py generation.
is_aimet: false
supported_precisions:
- float
- w8a8
has_on_target_demo: true
python_version_less_than: "3.13"
python_version_less_than_reason: "aimet-onnx has no 3.13 wheels"
"""


class InvalidCodeGenYaml(FolderRule):
    summary = (
        "code-gen.yaml has an unknown key, a wrongly typed value, or breaks a cross-field "
        "rule of upstream's schema (configs/code_gen_yaml.py)."
    )
    why = (
        'run_codegen.py and the scorecard load code-gen.yaml with `extra="forbid"`: a typo or a '
        "wrong type fails export generation for the model, far from the edit that caused it, "
        "and a misspelt key would otherwise be silently ignored by any YAML reader."
    )
    valid = (
        Valid(_GOOD, path=CODE_GEN),
        Valid("", path=CODE_GEN, note="Empty: every default."),
        Valid(
            "is_collection_model: true\nsupported_precisions: [float, mixed_with_float]\n",
            path=CODE_GEN,
        ),
        Valid(
            "global_requirements_incompatible: true\npip_install_flags: --no-deps\n", path=CODE_GEN
        ),
    )
    invalid = (
        Invalid(
            "is_aimet: false\nsuported_precisions:\n- float\n",
            path=CODE_GEN,
            note="Unknown key, with a did-you-mean.",
        ),
        Invalid("check_trace: sometimes\n", path=CODE_GEN),
        Invalid("supported_precisions:\n- w8a8\n- mixed\n", path=CODE_GEN),
        Invalid("pip_install_flags: --no-deps\n", path=CODE_GEN),
        Invalid("python_version_less_than: 3.13\n", path=CODE_GEN, note="A float, and no reason."),
        Invalid("- is_aimet\n- true\n", path=CODE_GEN),
        Invalid("is_aimet: true\nis_aimet: false\n", path=CODE_GEN),
        Invalid("supported_genai_runtimes: [tflite]\n", path=CODE_GEN),
    )

    def check(self) -> None:
        folder = self.folder
        path = folder.path / CODE_GEN
        source = folder.file(CODE_GEN)
        if source is None:
            if path.is_dir():
                self.report(
                    path,
                    f"{CODE_GEN} is a directory, not a file: remove it or make it a YAML file",
                    anchor="directory",
                )
            return
        if folder.layout is Layout.MANIFEST:
            self.report(
                source,
                f"{CODE_GEN} is not read in the manifest.yaml layout: move its "
                "settings to manifest.yaml (and scorecard/models/<id>/"
                "scorecard-config.yaml), then delete it",
                anchor="manifest-layout",
            )
            return
        try:
            document = yamlfile.load(source)
        except SourceError as error:
            self.report(source, f"{CODE_GEN} {error}", start=error.location, anchor=str(error))
            return
        data = document.data
        if data is None:
            return  # empty: every default
        if not isinstance(data, dict):
            kind = type(data).__name__
            self.report(
                source,
                f"{CODE_GEN} must be a mapping of settings, but it is a {kind}: "
                "write `key: value` lines",
                anchor="not-a-mapping",
            )
            return
        for key, location in document.duplicate_keys:
            self.report(
                source,
                f"{CODE_GEN} sets `{key}` twice; YAML keeps only the last value: remove one",
                start=location,
            )
        schema = schema_for(folder.package)
        if schema.fields is None:
            return
        known = sorted(schema.fields)
        for key, value in data.items():
            where = document.location_of(str(key))
            if not isinstance(key, str) or key not in schema.fields:
                self.report(
                    source,
                    f"unknown key `{key}` in {CODE_GEN} (not in {schema.origin})"
                    f"{did_you_mean(str(key), known)}",
                    start=where,
                )
                continue
            checker = schema.fields[key]
            problem = checker(value) if checker is not None else None
            if problem is not None:
                self.report(source, f"`{key}` must be {problem}, not `{value!r}`", start=where)
        self._cross_field(source, document, data, schema)

    def _cross_field(
        self,
        source: SourceFile,
        document: yamlfile.YamlDocument,
        data: dict[object, object],
        schema: Schema,
    ) -> None:
        def at(key: str) -> Location:
            return document.location_of(key)

        # Rules of the 0.46.1 schema apply only where the package's schema has their fields.
        fields = schema.fields or {}
        data = {key: value for key, value in data.items() if key in fields}

        for bound in ("python_version_greater_than_or_equal_to", "python_version_less_than"):
            reason = f"{bound}_reason"
            has_bound = data.get(bound) is not None
            has_reason = data.get(reason) is not None
            if has_bound and not has_reason:
                self.report(
                    source,
                    f"`{bound}` needs `{reason}`: say why other Python versions do not work",
                    start=at(bound),
                )
            elif has_reason and not has_bound:
                self.report(
                    source,
                    f"`{reason}` is set but `{bound}` is not: add the bound or remove the reason",
                    start=at(reason),
                )
            value = data.get(bound)
            if isinstance(value, str):
                try:
                    Version(value)
                except InvalidVersion:
                    self.report(
                        source,
                        f'`{bound}` must be a Python version like "3.12", not `{value}`',
                        start=at(bound),
                    )
        for key in ("pip_install_flags", "pip_pre_build_reqs"):
            if _truthy(data.get(key)) and not _truthy(data.get(FLAG)):
                self.report(
                    source,
                    f"`{key}` is set, so `{FLAG}: true` must be too: the model "
                    "cannot share the global environment",
                    start=at(key),
                )
        runtimes = data.get("supported_genai_runtimes")
        if isinstance(runtimes, list):
            for runtime in runtimes:
                if runtime in RUNTIMES and runtime not in GENAI_RUNTIMES:
                    self.report(
                        source,
                        f"`{runtime}` in supported_genai_runtimes is not a GenAI "
                        f"runtime (those are: {', '.join(GENAI_RUNTIMES)})",
                        start=at("supported_genai_runtimes"),
                    )
                elif runtime not in RUNTIMES:
                    self.report(
                        source,
                        f"unknown runtime `{runtime}` in supported_genai_runtimes"
                        f"{did_you_mean(str(runtime), list(GENAI_RUNTIMES))}",
                        start=at("supported_genai_runtimes"),
                    )
        precisions = data.get("supported_precisions")
        if isinstance(precisions, list):
            for precision in precisions:
                if not is_precision(precision):
                    self.report(
                        source,
                        f"unknown precision `{precision}` in supported_precisions"
                        f"{did_you_mean(str(precision), list(KNOWN_PRECISIONS))}",
                        start=at("supported_precisions"),
                    )
            mixed = [p for p in precisions if p in MIXED_PRECISIONS]
            if mixed and not _truthy(data.get("is_collection_model")):
                self.report(
                    source,
                    f"precision `{mixed[0]}` is only for collection models: set "
                    "`is_collection_model: true` or use one precision for the whole model",
                    start=at("supported_precisions"),
                )
        device = data.get("default_device")
        if (
            isinstance(device, str)
            and schema.canary_devices
            and device not in schema.canary_devices
        ):
            options = ", ".join(f"`{d}`" for d in sorted(schema.canary_devices))
            self.report(
                source,
                f"default_device `{device}` is not a canary device; use one of {options}",
                start=at("default_device"),
            )
        self._disabled_paths(source, data.get("disabled_paths"), at("disabled_paths"))

    def _disabled_paths(self, source: SourceFile, value: object, where: Location) -> None:
        if not isinstance(value, dict):
            return
        if set(value) == {"data"} and isinstance(value["data"], dict):
            value = value["data"]
        assert isinstance(value, dict)
        for precision, runtimes in value.items():
            if not is_precision(precision):
                self.report(
                    source,
                    f"disabled_paths: unknown precision `{precision}`"
                    f"{did_you_mean(str(precision), list(KNOWN_PRECISIONS))}",
                    start=where,
                )
                continue
            if not isinstance(runtimes, dict):
                self.report(
                    source, f"disabled_paths.{precision} must map runtimes to reasons", start=where
                )
                continue
            for runtime, reasons in runtimes.items():
                if runtime not in RUNTIMES:
                    self.report(
                        source,
                        f"disabled_paths.{precision}: unknown runtime `{runtime}`"
                        f"{did_you_mean(str(runtime), list(RUNTIMES))}",
                        start=where,
                    )
                    continue
                self._disable_reasons(
                    source, f"disabled_paths.{precision}.{runtime}", reasons, where
                )

    def _disable_reasons(
        self, source: SourceFile, label: str, reasons: object, where: Location
    ) -> None:
        if not isinstance(reasons, dict):
            self.report(
                source,
                f"{label} must be a mapping of {', '.join(DISABLE_REASON_FIELDS)}",
                start=where,
            )
            return
        for key, value in reasons.items():
            checker = DISABLE_REASON_FIELDS.get(str(key))
            if checker is None:
                self.report(
                    source,
                    f"{label}: unknown key `{key}`"
                    f"{did_you_mean(str(key), list(DISABLE_REASON_FIELDS))}",
                    start=where,
                )
                continue
            problem = checker(value)
            if problem is not None:
                self.report(source, f"{label}.{key} must be {problem}", start=where)
        if _truthy(reasons.get("causes_timeout")) and not reasons.get("issue"):
            self.report(
                source,
                f"{label}: `causes_timeout` needs `issue` (a link to the issue)",
                start=where,
            )
