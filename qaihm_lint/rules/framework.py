"""What the rules read from the checked package's own framework, said in words (``--verbose``).

The rules take their expectations from the tree they check (issue 17): the base model class's
spec methods, the precision and runtime names, the code-gen schema. This module only reports
where each expectation came from, so a user can see why a rule is quiet or loud on a release,
and which facts fell back to the built-in defaults because the tree lacks the file.
"""

from __future__ import annotations

from qaihm_lint.index import RepoIndex
from qaihm_lint.rules.codegen_schema import schema_for, vocabulary_for
from qaihm_lint.rules.model_class._contract import callable_on_class, declaration, generated_from
from qaihm_lint.workspace import PACKAGE_NAME, Package

_SPEC_METHODS = ("get_input_spec", "get_output_names", "get_output_spec")
_BASES = ("utils.base_model.BaseModel", "utils.base_model.PytorchWorkbenchModel")


def framework_facts(package: Package) -> list[str]:
    """One line per expectation: what it is and where it was read (or that it is built in)."""
    facts: list[str] = []
    index = RepoIndex.build(package.root)
    base = None
    for dotted in _BASES:
        module, _, name = dotted.rpartition(".")
        base = index.resolve_class(f"{PACKAGE_NAME}.{module}", name)
        if base is not None:
            break
    if base is None:
        facts.append("spec methods: no BaseModel in utils/base_model.py; built-in: the layout's")
    else:
        order = index.mro(base)
        for method in _SPEC_METHODS:
            found = declaration(order, method)
            if found is None:
                continue
            kind = "static" if callable_on_class(found.method) else "instance method"
            where = f"{found.owner.path.rsplit(PACKAGE_NAME + '/', 1)[-1]}:{found.method.lineno}"
            generated = generated_from(index, order, method)
            extra = f", generated from {', '.join(generated)}" if generated else ""
            facts.append(f"{method}: {kind} ({found.owner.name}, {where}){extra}")
    words = vocabulary_for(package)
    facts.append(
        "precisions: "
        + (
            f"{', '.join(sorted(words.precisions))} and the wNaM names (Precision.parse)"
            if words.precisions
            else "built-in (the package has no Precision.parse)"
        )
    )
    facts.append(
        "target runtimes: "
        + (
            ", ".join(sorted(words.runtimes))
            if words.runtimes
            else "built-in (the package has no TargetRuntime)"
        )
    )
    facts.append(f"code-gen.yaml schema: {schema_for(package).origin}")
    return facts
