"""Example files shared by the examples of several rule modules (plain text, no imports), so
that the engine's own rules (``meta``) need not import a rule family to show their examples."""

# A clean info.yaml, the same as the baseline folder's in every key a rule reads.
GOOD_INFO = """\
name: Example
id: example
status: public
headline: An example model.
domain: Computer Vision
description: An example.
use_case: Image Classification
tags: []
applicable_scenarios: []
related_models: []
form_factors: [Phone]
has_static_banner: true
has_animated_banner: false
dataset: []
technical_details: {}
license_type: mit
license: https://opensource.org/licenses/MIT
"""
LICENSE_LINE = "license: https://opensource.org/licenses/MIT\n"
