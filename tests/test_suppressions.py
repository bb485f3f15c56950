"""``# noqa`` in Python, requirements and YAML; file-level directives; QAI001."""

from __future__ import annotations

from qaihm_lint.testing import INFO_YAML, Tree, fix_paths, lint_paths

WRONG_ID = INFO_YAML.replace("id: example", "id: wrong")


def codes(tree: Tree) -> list[str]:
    return [d.code for d in lint_paths([tree.model()])]


def test_yaml_line_noqa(tree: Tree) -> None:
    tree.write("models/example/info.yaml", WRONG_ID)
    assert codes(tree) == ["QAI701"]
    tree.write("models/example/info.yaml", WRONG_ID.replace("id: wrong", "id: wrong  # noqa"))
    assert codes(tree) == []
    tree.write(
        "models/example/info.yaml", WRONG_ID.replace("id: wrong", "id: wrong  # NOQA:QAI701,QAI101")
    )
    assert codes(tree) == ["QAI001"]  # QAI101 silenced nothing; QAI701 did its job


def test_other_codes_do_not_suppress(tree: Tree) -> None:
    tree.write("models/example/info.yaml", WRONG_ID.replace("id: wrong", "id: wrong  # noqa: E501"))
    assert codes(tree) == ["QAI701"]


def test_file_level_directive(tree: Tree) -> None:
    tree.write("models/example/info.yaml", "# qaihm-lint: noqa: QAI701\n" + WRONG_ID)
    assert codes(tree) == []
    tree.write("models/example/info.yaml", "# qaihm-lint: noqa: QAI701\n" + INFO_YAML)
    findings = lint_paths([tree.model()])
    assert [d.code for d in findings] == ["QAI001"]
    assert "file-level directive for QAI701" in findings[0].message


def test_noqa_inside_a_python_string_is_not_a_directive(tree: Tree) -> None:
    tree.write("models/example/helpers.py", 's = "# noqa: QAI701"\n')
    assert codes(tree) == []  # not a comment: neither used nor unused


def test_unknown_code_is_reported(tree: Tree) -> None:
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI999\n")
    findings = lint_paths([tree.model()])
    assert [d.code for d in findings] == ["QAI001"]
    assert "QAI999, which is not a qaihm-lint rule" in findings[0].message


def test_codes_of_rules_not_run_are_not_judged(tree: Tree) -> None:
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")
    assert [d.code for d in lint_paths([tree.model()], select=["QAI0", "QAI1"])] == []


def test_removal_keeps_trailing_comment(tree: Tree) -> None:
    from qaihm_lint.testing import fix_paths

    app = tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701  # why\n")
    fix_paths([tree.model()])
    assert app.read_text() == "x = 1  # why\n"
    app.write_text("x = 1  # noqa: QAI701 because of reasons\n")
    findings = lint_paths([tree.model()])
    assert findings[0].code == "QAI001" and findings[0].fix is None  # prose would become code


def test_package_rule_codes_are_judged_after_the_package_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qaihm_lint.testing import build_tree

    tree = build_tree(
        tmp_path,
        {"requirements.txt": "fvcore==0.1.5.post1  # noqa: QAI306\n"},
        other_models={
            "other": {"requirements.txt": "fvcore==0.1.5.post2\n"},
            "published": {"code-gen.yaml": "supported_precisions:\n- float\n"},
        },
    )
    findings = lint_paths([tree.model()])
    assert [d.code for d in findings] == []  # the directive silenced a real QAI306
    tree.write("models/other/requirements.txt", "fvcore==0.1.5.post1\n")
    findings = lint_paths([tree.model()])
    assert [d.code for d in findings] == ["QAI001"]
    assert "unused directive for QAI306" in findings[0].message


def test_noqa_takes_exact_codes_and_says_so_for_a_prefix(tree: Tree) -> None:
    """--select/--ignore take prefixes and slugs; a noqa takes exact codes (as ruff's does), so
    that it says what it silences: a prefix silences nothing and is reported as such."""
    tree.write("models/example/info.yaml", WRONG_ID.replace("id: wrong", "id: wrong  # noqa: QAI7"))
    findings = {d.code: d for d in lint_paths([tree.model()])}
    assert sorted(findings) == ["QAI001", "QAI701"]
    unused = findings["QAI001"]
    assert "QAI7, a prefix of codes: it silences nothing" in unused.message
    # The code it was meant for is reported on that line: suggested, and written by the unsafe
    # fix (it silences a finding); never deleted, which would leave the author's intent lost.
    assert unused.message.endswith("did you mean QAI701?")
    assert unused.fix is not None and unused.fix.applicability.value == "unsafe"
    assert [e.content for e in unused.fix.edits] == ["QAI701"]


def test_a_prefix_for_nothing_on_the_line_names_its_codes_and_is_not_deleted(
    tree: Tree,
) -> None:
    tree.write(
        "models/example/info.yaml", INFO_YAML.replace("id: example", "id: example  # noqa: QAI5")
    )
    (unused,) = lint_paths([tree.model()])
    assert unused.code == "QAI001" and unused.fix is None
    assert "did you mean QAI501 or QAI502?" in unused.message
    assert fix_paths([tree.model()]).changed == {}


def test_ignore_form_silences_its_codes_on_its_line(tree: Tree) -> None:
    """``# qaihm-lint: ignore[...]``: the form ruff does not read as a noqa directive."""
    for comment in ("# qaihm-lint: ignore[QAI701]", "#qaihm-lint:ignore[QAI101, QAI701]"):
        tree.write(
            "models/example/info.yaml", WRONG_ID.replace("id: wrong", f"id: wrong  {comment}")
        )
        found = lint_paths([tree.model()])
        expected = [] if "QAI101" not in comment else ["QAI001"]
        assert [d.code for d in found] == expected, comment
    # Beside a noqa for another tool, in either order.
    for line in (
        "id: wrong  # qaihm-lint: ignore[QAI701]  # noqa: E501",
        "id: wrong  # noqa: E501  # qaihm-lint: ignore[QAI701]",
    ):
        tree.write("models/example/info.yaml", WRONG_ID.replace("id: wrong", line))
        assert codes(tree) == [], line


def test_ignore_form_with_a_mistyped_code_silences_nothing(tree: Tree) -> None:
    tree.write(
        "models/example/info.yaml",
        WRONG_ID.replace("id: wrong", "id: wrong  # qaihm-lint: ignore[QAI7O1]"),
    )
    findings = {d.code: d for d in lint_paths([tree.model()])}
    assert sorted(findings) == ["QAI001", "QAI701"]
    assert "QAI7O1, which is not a qaihm-lint rule: did you mean QAI701?" in (
        findings["QAI001"].message
    )


def test_unused_code_removed_from_the_ignore_form_keeps_its_bracket(tree: Tree) -> None:
    tree.write(
        "models/example/info.yaml",
        WRONG_ID.replace("id: wrong", "id: wrong  # qaihm-lint: ignore[QAI101, QAI701]"),
    )
    outcome = fix_paths([tree.model()])
    (text,) = outcome.changed.values()
    assert "id: wrong  # qaihm-lint: ignore[QAI701]\n" in text.decode()


def test_unknown_code_gets_a_suggestion(tree: Tree) -> None:
    tree.write(
        "models/example/info.yaml", WRONG_ID.replace("id: wrong", "id: wrong  # noqa: QAI710")
    )
    findings = {d.code: d for d in lint_paths([tree.model()])}
    assert sorted(findings) == ["QAI001", "QAI701"]
    assert (
        "QAI710, which is not a qaihm-lint rule: did you mean QAI701?" in findings["QAI001"].message
    )
