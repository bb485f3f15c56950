"""code-gen.yaml against upstream's schema (``qai_hub_models/configs/code_gen_yaml.py``) (QAI702).

The schema itself (field types, precisions, runtimes, the package's own field names and canary
devices) is ``codegen_schema``; this module holds the rule and upstream's cross-field checks.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Location
from qaihm_lint.rules._settings import CODE_GEN, FLAG, is_on
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.rules.codegen_schema import (
    DISABLE_REASON_FIELDS,
    GENAI_RUNTIMES,
    MIXED_PRECISIONS,
    RUNTIMES,
    Schema,
    did_you_mean,
    schema_for,
)
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import Layout

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
            # A string setting is set when non-empty (upstream's `if self.<key>`).
            if data.get(key) and not is_on(data.get(FLAG)):
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
                    # Only runtimes known not to be GenAI ones: a tree may add GenAI runtimes.
                    self.report(
                        source,
                        f"`{runtime}` in supported_genai_runtimes is not a GenAI "
                        f"runtime (those are: {', '.join(GENAI_RUNTIMES)})",
                        start=at("supported_genai_runtimes"),
                    )
                elif not schema.is_runtime(runtime):
                    self.report(
                        source,
                        f"unknown runtime `{runtime}` in supported_genai_runtimes"
                        f"{did_you_mean(str(runtime), sorted(schema.runtimes))}",
                        start=at("supported_genai_runtimes"),
                    )
        precisions = data.get("supported_precisions")
        if isinstance(precisions, list):
            for precision in precisions:
                if not schema.is_precision(precision):
                    self.report(
                        source,
                        f"unknown precision `{precision}` in supported_precisions"
                        f"{did_you_mean(str(precision), sorted(schema.precisions))}",
                        start=at("supported_precisions"),
                    )
            mixed = [p for p in precisions if p in MIXED_PRECISIONS]
            if mixed and not is_on(data.get("is_collection_model")):
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
        self._disabled_paths(source, schema, data.get("disabled_paths"), at("disabled_paths"))

    def _disabled_paths(
        self, source: SourceFile, schema: Schema, value: object, where: Location
    ) -> None:
        if not isinstance(value, dict):
            return
        if set(value) == {"data"} and isinstance(value["data"], dict):
            value = value["data"]
        assert isinstance(value, dict)
        for precision, runtimes in value.items():
            if not schema.is_precision(precision):
                self.report(
                    source,
                    f"disabled_paths: unknown precision `{precision}`"
                    f"{did_you_mean(str(precision), sorted(schema.precisions))}",
                    start=where,
                )
                continue
            if not isinstance(runtimes, dict):
                self.report(
                    source, f"disabled_paths.{precision} must map runtimes to reasons", start=where
                )
                continue
            for runtime, reasons in runtimes.items():
                if not schema.is_runtime(runtime):
                    self.report(
                        source,
                        f"disabled_paths.{precision}: unknown runtime `{runtime}`"
                        f"{did_you_mean(str(runtime), sorted(schema.runtimes))}",
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
        if is_on(reasons.get("causes_timeout")) and not reasons.get("issue"):
            self.report(
                source,
                f"{label}: `causes_timeout` needs `issue` (a link to the issue)",
                start=where,
            )
