"""The runtime findings of ``--deep`` (QAI801-QAI809), documented like every other rule.

They are produced by ``qaihm_lint.deep`` (a worker subprocess per model), not by the static
engine; here they get their place in the registry so that ``--select``/``--ignore``,
``--explain``, ``--list-rules`` and the SARIF rule table know them. Their examples are models,
exercised for real by ``tests/deep`` on the fixture package.
"""

from __future__ import annotations

from typing import ClassVar

from qaihm_lint.rules.base import Invalid, Rule, Valid


class DeepRule(Rule):
    # What the deep runner reports under this rule (qaihm_lint/deep/outcomes.py maps a
    # verdict to a rule by these): a failure of ``stage`` ("any" for every stage), narrowed by
    # ``outcome`` when the failure has a rule of its own (names from
    # qaihm_lint/deep/inside/records.py).
    stage: ClassVar[str]
    outcome: ClassVar[str | None] = None


class ImportFailed(DeepRule):
    stage = "import"
    summary = "Deep stage 1: `import qai_hub_models.models.<id>` fails, or exports no `Model`."
    why = (
        "Everything the repository runs (export, tests, demo) starts with this import. The "
        "message names the missing module and the line that imported it; a dependency of the "
        "package itself is told apart from one of the model's requirements.txt."
    )
    valid = (Valid("from .model import ExampleModel as Model\n", path="__init__.py"),)
    invalid = (Invalid("import not_installed_anywhere\n", path="model.py"),)


class FromPretrainedFailed(DeepRule):
    stage = "from_pretrained"
    summary = "Deep stage 2: `Model.from_pretrained()` with no arguments raises."
    why = (
        "The runtime proof that every argument has a default and that the weights load on a "
        "CPU-only machine. Network and missing-asset errors are reported as such, with the URL; "
        "a CUDA error says that the model needs a GPU, which the guide forbids."
    )
    valid = (Valid("@classmethod\ndef from_pretrained(cls, weights: str = 'default'): ...\n"),)
    invalid = (Invalid("@classmethod\ndef from_pretrained(cls, checkpoint_path): ...\n"),)


class InvalidInputSpec(DeepRule):
    stage = "input_spec"
    summary = (
        "Deep stage 3: `get_input_spec()` does not give shapes and dtypes inputs can be made from."
    )
    why = (
        "AI Hub compiles for the shapes and dtypes of the input spec; a dimension below 1, an "
        "unknown dtype or a spec that is not a mapping fails there, late and remotely."
    )
    valid = (Valid("return {'image': ((1, 3, 224, 224), 'float32')}\n"),)
    invalid = (Invalid("return {'image': ((0, 3, 224, 224), 'float32')}\n"),)


class OutputNamesMismatch(DeepRule):
    stage = "forward"
    summary = (
        "Deep stage 4: the eager forward fails, or its tensor count differs from "
        "`get_output_names()`."
    )
    why = (
        "Compiled models name their outputs from `get_output_names()`; a count that disagrees "
        "mislabels every output on device. A crash of the forward (even a segfault) is reported "
        "here too, with the model's line."
    )
    valid = (Valid("def get_output_names(): return ['boxes', 'scores']  # forward returns 2\n"),)
    invalid = (Invalid("def get_output_names(): return ['boxes']  # forward returns 2\n"),)


class TraceFailed(DeepRule):
    stage = "trace"
    summary = "Deep stage 5: `torch.jit.trace` (or `torch.export` in the manifest layout) fails."
    why = "Export traces the model exactly this way before uploading it to AI Hub."
    valid = (Valid("def forward(self, x): return self.net(x)\n"),)
    invalid = (Invalid("def forward(self, x): return {'a': x, 'b': None}\n"),)


class TraceDivergence(DeepRule):
    stage = "trace"
    outcome = "divergence"
    summary = "Deep stage 5: the traced model differs from eager beyond the trace-test tolerance."
    why = (
        "A trace records one path through data-dependent control flow; on other inputs the "
        "compiled model then computes something else. Checked on the trace inputs and on a fresh "
        "set: at most 0.5 % of an output's elements may differ by more than 1e-4 times the "
        "output's scale (its largest |value|, at least 1) plus 1e-3 times the element's own "
        "size, the form of torch.testing and upstream's assert_most_close."
    )
    valid = (Valid("def forward(self, x): return torch.relu(x)\n"),)
    invalid = (Invalid("def forward(self, x): return x if x.sum() > 0 else -x\n"),)


class OnnxExportFailed(DeepRule):
    stage = "onnx"
    summary = (
        "Deep stage 6: ONNX export, `onnx.checker` or the onnxruntime comparison with eager fails."
    )
    why = (
        "The ONNX runtime path of AI Hub compiles from this export. When the export succeeds "
        "but onnxruntime's result differs from eager (same tolerance as QAI806), the message "
        "says so, names the output and shows its worst element."
    )
    valid = (Valid("def forward(self, x): return self.conv(x)\n"),)
    invalid = (Invalid("def forward(self, x): return torch.fft.fft(x)\n"),)


class CompileFailed(DeepRule):
    stage = "compile"
    summary = "Deep stage 7: an AI Hub compile job for a target device failed."
    why = (
        "A model that does not compile for the target devices cannot be published. The finding "
        "carries the job URL and the service's failure reason."
    )
    valid = (Valid("# compiles for Samsung Galaxy S25 (Family)\n"),)
    invalid = (Invalid("# an op the target runtime does not support\n"),)


class DeepTimeout(DeepRule):
    stage = "any"
    outcome = "timed-out"
    summary = "A deep stage ran past its time limit; the model's worker was killed."
    why = (
        "A hang (a prompt waiting on stdin, a download that never ends, an endless loop) would "
        "stall CI; it fails that model only and the run goes on."
    )
    valid = (Valid("def forward(self, x): return x\n"),)
    invalid = (Invalid("def forward(self, x):\n    while True: pass\n"),)
