"""Example files the SourceAsRoot rules share."""

MANIFEST = """\
name: Example
id: example
status: public
headline: An example model.
domain: Computer Vision
description: An example model for tests.
use_case: Image Classification
has_static_banner: true
license_type: mit
supported_precisions:
- float
external_repos:
  yolov7:
    repo_url: https://github.com/WongKinYiu/yolov7
    commit_sha: {sha}
    patches_filename: {patch}
"""

# code-gen.yaml's external_repos: where 0.52.0-0.58.0 declare clones, beside info.yaml.
CODE_GEN_REPOS = """\
external_repos:
  rf_detr:
    repo_url: https://github.com/roboflow/rf-detr.git
    commit_sha: {sha}
    patches_filename: {patch}
"""

SAR_MODEL = """\
from qai_hub_models.utils.asset_loaders import SourceAsRoot

SOURCE_REPO = "https://github.com/example/upstream"
COMMIT = "{sha}"


def load():
    with SourceAsRoot(SOURCE_REPO, COMMIT, "upstream", 1{extra}) as repo:
        import upstream
    return upstream
"""

FULL = "4c50fd3a46bdf63dbf2082c5cbb3458d39579e6c"
