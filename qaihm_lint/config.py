"""Settings: ``[tool.qaihm-lint]`` in the nearest pyproject.toml, overridden by CLI flags.

Unknown keys and ill-typed values are configuration errors (exit 2, one line), not silently
ignored: a misspelt ``ignore`` key would otherwise quietly re-enable every rule.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qaihm_lint import rule_selectors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

SECTION = "qaihm-lint"
OUTPUT_FORMATS = ("full", "concise", "json", "github", "sarif", "junit")


class ConfigError(Exception):
    """Bad configuration or usage: one line on stderr, exit 2."""


@dataclass(frozen=True)
class DeepSettings:
    targets: tuple[str, ...] = ("Samsung Galaxy S25 (Family)",)
    timeout: float | None = None


@dataclass(frozen=True)
class Settings:
    # From the config file (and CLI overrides).
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_model_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    known_pip_installable: tuple[str, ...] = ()
    # ESLint's --max-warnings: None (or -1) lets warnings through, N fails past N warnings.
    max_warnings: int | None = None
    deep: DeepSettings = DeepSettings()
    config_path: Path | None = None
    # Run options (CLI only).
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    output_format: str = "full"
    statistics: bool = False
    exit_zero: bool = False
    jobs: int = 0  # 0: one per core
    use_cache: bool = True
    baseline: Path | None = None
    write_baseline: Path | None = None
    verbose: bool = False
    color: bool = False

    def ignored_for_model(self, model_id: str) -> tuple[str, ...]:
        codes: list[str] = []
        for pattern, ignored in self.per_model_ignores.items():
            if fnmatch.fnmatchcase(model_id, pattern):
                codes.extend(ignored)
        return tuple(codes)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _string_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"[tool.{SECTION}] {key} must be a list of strings")
    return tuple(value)


def max_warnings(value: Any, where: str) -> int | None:
    """A warning limit: N >= 0, or -1 for none (ESLint's spelling of its default)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ConfigError(f"{where} must be a whole number >= 0 (or -1 for no limit)")
    return None if value == -1 else value


def _key_error(section: str, key: str, known: Sequence[str]) -> ConfigError:
    hint = difflib.get_close_matches(key, known, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ConfigError(f"unknown key {key!r} in [{section}]{suggestion}")


_KEYS = (
    "select",
    "ignore",
    "exclude",
    "per-model-ignores",
    "known-pip-installable",
    "max-warnings",
    "deep",
)
_DEEP_KEYS = ("targets", "timeout")


def settings_from_table(table: Mapping[str, Any], path: Path | None) -> Settings:
    settings = Settings(config_path=path)
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise _key_error(f"tool.{SECTION}", key, _KEYS)
        if key == "per-model-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"[tool.{SECTION}] per-model-ignores must be a table")
            changes["per_model_ignores"] = {
                str(pattern): _string_list(f"per-model-ignores.{pattern}", codes)
                for pattern, codes in value.items()
            }
        elif key == "max-warnings":
            changes["max_warnings"] = max_warnings(value, f"[tool.{SECTION}] max-warnings")
        elif key == "deep":
            if not isinstance(value, dict):
                raise ConfigError(f"[tool.{SECTION}] deep must be a table")
            deep = DeepSettings()
            for deep_key, deep_value in value.items():
                if deep_key not in _DEEP_KEYS:
                    raise _key_error(f"tool.{SECTION}.deep", deep_key, _DEEP_KEYS)
                if deep_key == "targets":
                    deep = replace(deep, targets=_string_list("deep.targets", deep_value))
                else:
                    if (
                        isinstance(deep_value, bool)
                        or not isinstance(deep_value, (int, float))
                        or not math.isfinite(deep_value)
                        or deep_value <= 0
                    ):
                        raise ConfigError(
                            f"[tool.{SECTION}.deep] timeout must be a positive number of seconds"
                        )
                    deep = replace(deep, timeout=float(deep_value))
            changes["deep"] = deep
        else:
            changes[key.replace("-", "_")] = _string_list(key, value)
    # Selectors are checked here, where the file is known (load_settings names it), with the
    # same grammar and suggestions as --select and --ignore.
    to_check = [("select", changes.get("select") or ()), ("ignore", changes.get("ignore", ()))]
    for pattern, selectors in changes.get("per_model_ignores", {}).items():
        to_check.append((f"per-model-ignores.{pattern!r}", selectors))
    for key, selectors in to_check:
        try:
            rule_selectors.validate(selectors)
        except rule_selectors.UnknownSelector as exc:
            raise ConfigError(f"[tool.{SECTION}] {key}: {exc}") from exc
    return replace(settings, **changes)


def _misspelt_table(tool: Any) -> str | None:
    """A [tool.*] table meant for us under another spelling (``qaihm_lint``, ``qaihmlint``):
    silently ignoring it would run with none of its settings."""
    if not isinstance(tool, dict) or SECTION in tool:
        return None
    for key in tool:
        squashed = key.lower().replace("-", "").replace("_", "").replace(".", "")
        if squashed == "qaihmlint" or difflib.get_close_matches(key, [SECTION], cutoff=0.85):
            return str(key)
    return None


def _misspelt_error(path: Path, key: str) -> ConfigError:
    return ConfigError(f"{path}: [tool.{key}] is not read: the table is [tool.{SECTION}]")


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` that has a [tool.qaihm-lint] table."""
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                # Broken: ours to report only when it is meant to configure us.
                if f"[tool.{SECTION}" in text:
                    return path
                continue
            if SECTION in data.get("tool", {}):
                return path
            misspelt = _misspelt_table(data.get("tool"))
            if misspelt is not None:
                raise _misspelt_error(path, misspelt)
    return None


def load_settings(config: Path | None, start: Path) -> Settings:
    """Settings from ``config`` (an explicit --config file) or the nearest pyproject.toml."""
    path = config if config is not None else find_config(start)
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config is not valid UTF-8") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    misspelt = _misspelt_table(data.get("tool"))
    if misspelt is not None:
        raise _misspelt_error(path, misspelt)
    if config is not None and path.name != "pyproject.toml":
        # A dedicated config file: the table may be at the top level or under [tool.qaihm-lint].
        table = data.get("tool", {}).get(SECTION, data)
    else:
        table = data.get("tool", {}).get(SECTION, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.{SECTION}] must be a table")
    try:
        return settings_from_table(table, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
