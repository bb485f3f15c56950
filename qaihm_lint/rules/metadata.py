"""The model's metadata file: info.yaml, or manifest.yaml in the newer layout (QAI701)."""

from __future__ import annotations

import re

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import FILE_START
from qaihm_lint.rules._examples import GOOD_INFO, LICENSE_LINE
from qaihm_lint.rules.base import FolderRule, Invalid, Valid
from qaihm_lint.workspace import Layout

# Keys every published info.yaml has (all 167 of the 0.46.1 release), with their types.
INFO_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "id": str,
    "status": str,
    "headline": str,
    "domain": str,
    "description": str,
    "use_case": str,
    "tags": list,
    "applicable_scenarios": list,
    "related_models": list,
    "form_factors": list,
    "has_static_banner": bool,
    "has_animated_banner": bool,
    "dataset": list,
    "technical_details": dict,
    "license_type": str,
}
# Keys every manifest.yaml has (all 263 of the 0.65.0 release).
MANIFEST_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "id": str,
    "status": str,
    "headline": str,
    "domain": str,
    "description": str,
    "use_case": str,
    "has_static_banner": bool,
    "license_type": str,
}
# Statuses of a model on the website (info.yaml's `public`, manifest.yaml's `published`).
PUBLIC_STATUSES = ("public", "published")
# Optional keys whose type is the same wherever they appear.
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "license": str,
    "deploy_license": str,
    "source_repo": str,
    "research_paper": str,
    "research_paper_title": str,
    "imsdk_supported": bool,
    "restrict_model_sharing": bool,
    "model_type_llm": bool,
    "llm_details": dict,
    "private_perf_form_factors": list,
    "model_maker_id": str,
    "tags": list,
    "applicable_scenarios": list,
    "related_models": list,
    "form_factors": list,
    "has_animated_banner": bool,
    "dataset": list,
    "technical_details": dict,
    "is_collection_model": bool,
    "supported_precisions": list,
    "external_repos": dict,
}

# Keys that hold one link: the website renders each as one anchor.
URL_KEYS = ("license", "deploy_license", "source_repo", "research_paper")
_URL = re.compile(r"https?://[^\s/]+\S*")


def url_problem(value: str) -> str | None:
    """Why ``value`` is not one well-formed http(s) URL, or None when it is."""
    urls = re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://", value)
    if len(urls) > 1:
        return (
            f"holds {len(urls)} URLs run together (YAML joins continuation lines with a "
            "space): keep the one this key is for"
        )
    if _URL.fullmatch(value) is not None:
        return None
    if urls and not value.startswith(("http://", "https://")):
        return f"starts with `{value.split('://', 1)[0]}://`: write `https://`"
    return "is not a URL: write the `https://` link it stands for"


_TYPE_NAMES = {
    str: "a string",
    list: "a list",
    bool: "true or false",
    dict: "a mapping",
    int: "an integer",
}


def _type_name(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _is_instance(value: object, expected: type | tuple[type, ...]) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False  # YAML's true is not an integer here
    return isinstance(value, types)


class InvalidInfoYaml(FolderRule):
    summary = (
        "info.yaml / manifest.yaml does not parse, is not a mapping, lacks a key, has a "
        "wrongly typed value, a link field (license, source_repo, ...) that is not one URL, "
        "or its id is not the folder name."
    )
    why = (
        "The website, the README generator and the export scripts read these files; a missing key "
        "or an id that differs from the folder name breaks them, usually far from the mistake."
    )
    valid = (
        Valid(GOOD_INFO, path="info.yaml"),
        Valid(
            GOOD_INFO.replace(
                LICENSE_LINE, "license: https://github.com/org/repo/blob/main/LICENSE\n"
            )
            + "source_repo: >-\n  https://github.com/org/repo/tree/main/a_rather_long/path\n",
            path="info.yaml",
        ),
    )
    invalid = (
        Invalid(GOOD_INFO.replace("id: example", "id: other_model"), path="info.yaml"),
        Invalid(GOOD_INFO.replace("headline: An example model.\n", ""), path="info.yaml"),
        Invalid(GOOD_INFO.replace("tags: []", "tags: vision"), path="info.yaml"),
        Invalid("name: [unclosed\n", path="info.yaml"),
        Invalid("- just\n- a list\n", path="info.yaml"),
        Invalid(GOOD_INFO + "name: Again\n", path="info.yaml", note="Duplicate keys."),
        Invalid(
            GOOD_INFO.replace(LICENSE_LINE, "license: hhttps://example.com/LICENSE\n"),
            path="info.yaml",
            note="dla102x's license until 0.51.0.",
        ),
        Invalid(
            GOOD_INFO.replace(
                LICENSE_LINE,
                "license: https://github.com/org/repo/blob/main/LICENSE\n"
                "  https://example.com/Proprietary+License.pdf\n",
            ),
            path="info.yaml",
            note="A continuation line joins two URLs into one value (bevdet, centernet_3d and "
            "gkt until 0.52.0).",
        ),
        Invalid(
            GOOD_INFO.replace(LICENSE_LINE, ""),
            path="info.yaml",
            note="A public model without `license` (bisenet, bgnet and statetransformer, fixed "
            "at 0.44.0 and 0.47.0).",
        ),
    )

    def check(self) -> None:
        folder = self.folder
        name = Layout.MANIFEST.value if folder.has(Layout.MANIFEST.value) else Layout.INFO.value
        source = folder.file(name)
        if source is None:
            return  # QAI101 reports the missing file
        required = MANIFEST_REQUIRED if name == Layout.MANIFEST.value else INFO_REQUIRED
        try:
            document = yamlfile.load(source)
        except yamlfile.YamlError as error:
            self.report(source, f"{name} {error}", start=error.location)
            return
        except Exception as error:  # SourceError: unreadable or not UTF-8
            self.report(
                source,
                f"{name} {error}",
                start=getattr(error, "location", None) or FILE_START,
            )
            return
        data = document.data
        if not isinstance(data, dict):
            kind = "empty" if data is None else f"a {type(data).__name__}"
            self.report(source, f"{name} must be a mapping of keys to values, but it is {kind}")
            return
        for key, location in document.duplicate_keys:
            self.report(
                source,
                f"{name} sets `{key}` twice; YAML keeps only the last value: remove one",
                start=location,
            )
        missing = [key for key in required if key not in data]
        if missing:
            self.report(
                source,
                f"{name} lacks required key{'s' * (len(missing) > 1)} {', '.join(missing)}",
                anchor="missing:" + ",".join(missing),
            )
        for key, value in data.items():
            expected = required.get(key) or OPTIONAL_TYPES.get(key)
            if expected is None or _is_instance(value, expected):
                continue
            start, end = document.value_span(key)
            self.report(
                source,
                f"{name}: `{key}` must be {_type_name(expected)}, not {type(value).__name__}",
                start=start,
                end=end,
            )
        for key in URL_KEYS:
            value = data.get(key)
            problem = url_problem(value) if isinstance(value, str) else None
            if problem is not None:
                start, end = document.value_span(key)
                self.report(source, f"{name}: `{key}` {problem}", start=start, end=end)
        if (
            data.get("status") in PUBLIC_STATUSES
            and "license" not in missing
            and not data.get("license")
            and not folder.is_card_only
        ):
            # Upstream's validator refuses an empty license for a model one can download; a
            # card without code has nothing to download (jais, indus, plamo never had one).
            self.report(
                source,
                f"{name}: a {data['status']} model needs `license`: add the link to the "
                "original model's license",
                anchor="license",
            )
        model_id = data.get("id")
        if isinstance(model_id, str) and model_id != folder.model_id:
            start, end = document.value_span("id")
            self.report(
                source,
                f"{name}: id `{model_id}` must equal the folder name `{folder.model_id}`",
                start=start,
                end=end,
            )
