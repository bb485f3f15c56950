"""Lines of a requirements file that pip cannot read (QAI304) or that repeat a package (QAI305)."""

from __future__ import annotations

from collections import defaultdict

from qaihm_lint import yamlfile
from qaihm_lint.diagnostics import Applicability, Fix
from qaihm_lint.fixers.text_fixes import delete_line
from qaihm_lint.requirements_file import RequirementLine, RequirementSet, unsafe_pip_flags
from qaihm_lint.rules.base import Invalid, Valid
from qaihm_lint.rules.requirements import (
    REQUIREMENTS,
    LineRule,
    ModelRequirements,
    line_where,
    model_requirements,
    quote,
)
from qaihm_lint.sources import SourceError
from qaihm_lint.specifiers import active_envs
from qaihm_lint.workspace import CODE_GEN_YAML


class InvalidRequirement(LineRule):
    shared_code = True
    summary = (
        "A requirements line pip cannot read, or reads otherwise than written: not PEP 508, "
        "an unknown option, a broken `-r` include, a marker after an option, a file that is "
        "not UTF-8 text, or an option (`-c`, `-r`, `-e`, code-gen.yaml's `pip_install_flags`) "
        "that reads a file outside the package."
    )
    why = (
        "`pip install -r` stops at the first line it cannot parse, so every later "
        "requirement of the model is never installed."
    )
    valid = (
        Valid(
            "# pinned for the tokenizer\nnumpy==1.26.4 ; python_version >= '3.10'\n"
            "--extra-index-url https://download.pytorch.org/whl/cpu\n-r extra.txt\n",
            path=REQUIREMENTS,
            files={"extra.txt": "einops==0.3.2\n"},
        ),
        Valid(
            "aimet_onnx@https://example.com/aimet_onnx-2.26.0-cp310-linux_x86_64.whl; "
            "sys_platform == 'linux'\n",
            path="requirements-gpu.txt",
            note="pip splits a URL from its marker at `; `, as pi05's GPU file relies on.",
        ),
    )
    invalid = (
        Invalid("numpy = 1.26\n", path=REQUIREMENTS),
        Invalid("--bogus-option\n", path=REQUIREMENTS),
        Invalid("-r missing.txt\n", path=REQUIREMENTS),
        Invalid(
            "-c ../../../../../../../../proc/self/environ\n",
            path=REQUIREMENTS,
            note="The installer would read a file outside the package (here the process's "
            "environment, tokens included, which it then echoes in its error).",
        ),
        Invalid(
            "-r requirements.txt\n",
            path="extra.txt",
            files={REQUIREMENTS: "-r extra.txt\n"},
            note="An include cycle: reported on the line that closes it.",
        ),
        Invalid(
            "onnxruntime-gpu==1.23.2\n"
            "https://example.com/aimet_onnx-2.26.0-cp310-linux_x86_64.whl -f "
            "https://download.pytorch.org/whl/torch_stable.html; sys_platform == 'linux'\n",
            path="requirements-gpu.txt",
            note="The marker is `-f`'s argument to pip: the Linux-only wheel is required "
            "everywhere (upstream dropped the `-f` in 0.57.0).",
        ),
    )

    def check(self) -> None:
        self.check_pip_flags()
        model = model_requirements(self.folder, self.ctx.memo)
        if model.is_directory:
            self.report(
                self.folder.path / REQUIREMENTS,
                f"{REQUIREMENTS} is a directory, not "
                "a requirements file: pip cannot read it; make it a file or remove it",
                anchor="directory",
            )
        for requirement_set in model.sets:
            self._check_set(model, requirement_set)

    def _check_set(self, model: ModelRequirements, requirement_set: RequirementSet) -> None:
        root = requirement_set.root
        if root.error is not None:
            self.report(
                root.source,
                f"{root.source.path.name} {root.error}: pip cannot read it; save it as UTF-8 text",
                start=root.error.location,
                anchor=str(root.error),
            )
            return
        for line in requirement_set.invalid_lines():
            if not model.own(line):
                continue
            self.report_line(
                line,
                f"{line.path.name} line {line.row} is not a valid "
                f"requirement: {line.error}; write `name[extras]<specifier> ; marker`",
            )
        for problem in requirement_set.problems:
            line = problem.line
            if model.own(line):
                self.report_line(
                    line,
                    f"{problem.message}: pip cannot install from it",
                )
        for line in requirement_set.requirements():
            if line.swallowed_marker is not None and model.own(line):
                self.report_line(
                    line,
                    f"the marker `{line.swallowed_marker}` follows the option "
                    f"`{line.trailing_option}`, so pip reads it as that option's argument and "
                    f"installs {quote(line)} everywhere; write the marker right after the "
                    "requirement, and the option on a line of its own",
                )

    def check_pip_flags(self) -> None:
        """code-gen.yaml's pip_install_flags go to the installer too: a flag that makes it
        read a file outside the package (``-c /proc/self/environ``) is refused like a line."""
        source = self.folder.file(CODE_GEN_YAML)
        if source is None:
            return
        try:
            document = yamlfile.load(source)
        except SourceError:
            return  # QAI702 reports it
        if not isinstance(document.data, dict):
            return
        boundary = self.folder.package.root if self.folder.package else self.folder.path
        for key in ("pip_install_flags", "pip_install_flags_gpu"):
            value = document.data.get(key)
            if not isinstance(value, str):
                continue
            for problem in unsafe_pip_flags(value.split(), self.folder.path, boundary):
                self.report(
                    source,
                    f"`{key}`: {problem}: the installer must read only the package's files",
                    start=document.location_of(key),
                    anchor=f"{key}:{problem}",
                )


def _identity(line: RequirementLine) -> tuple[object, ...]:
    requirement = line.requirement
    if requirement is None:
        return (line.text,)
    return (
        line.name,
        tuple(sorted(requirement.extras)),
        frozenset(str(s) for s in requirement.specifier),
        str(requirement.marker or ""),
        requirement.url or "",
    )


class DuplicateRequirement(LineRule):
    summary = "One package is required twice (where the two lines' markers overlap)."
    why = (
        "Two lines for one package are either redundant or contradict each other; pip "
        "combines them silently, and a later edit to one line leaves the other behind."
    )
    fix_applicability = Applicability.SAFE
    fix_note = "Safe when both lines require the same thing: the later line is deleted."
    valid = (
        Valid(
            "onnxsim==0.4.36; python_version<'3.12'\nonnxsim==0.4.35; python_version>='3.12'\n",
            path=REQUIREMENTS,
            note="Markers that never hold together.",
        ),
    )
    invalid = (
        Invalid(
            "numpy==1.26.4\neinops==0.3.2\nNumPy==1.26.4\n",
            path=REQUIREMENTS,
            fixed="numpy==1.26.4\neinops==0.3.2\n",
        ),
        Invalid("ruamel_yaml==0.18.10\nruamel.yaml==0.18.6\n", path=REQUIREMENTS),
    )

    shared_code = True

    def check(self) -> None:
        model = model_requirements(self.folder, self.ctx.memo)
        for requirement_set in model.sets:
            self._check_set(model, requirement_set)

    def _check_set(self, model: ModelRequirements, requirement_set: RequirementSet) -> None:
        seen: dict[str, list[RequirementLine]] = defaultdict(list)
        for line in requirement_set.requirements():
            name = line.name
            if name is None:
                continue
            envs = active_envs(line.marker)
            earlier = next((e for e in seen[name] if envs & active_envs(e.marker)), None)
            seen[name].append(line)
            if earlier is None or not model.own(line):
                continue
            same = _identity(earlier) == _identity(line)
            fix = None
            if same and line.row == line.end_row and line.comment in ("", earlier.comment):
                fix = Fix(
                    Applicability.SAFE,
                    "Remove the repeated line",
                    (delete_line(line.source, line.row),),
                )
            relation = "repeats" if same else "conflicts with or overlaps"
            self.report_line(
                line,
                f"{quote(line)} {relation} {quote(earlier)} "
                f"({line_where(earlier, self.folder)}): keep one line per package",
                fix=fix,
            )
