"""The engine: runs the rules over a workspace and collects their findings.

One way through, each step in its own module::

    plan.Plan ─ which rules, which settings
      run.Run.check ─ per folder: cache hit, or
        pool.check_folders ─ worker processes, each running
          folder.check_folder_result ─ folder rules, walk.walk_file for Python rules,
                                        suppress.apply_suppressions
      run.Run.assemble ─ packages.run_package_rules (cross-model rules), sorted findings
    fixes.lint_with_fixes ─ the same, then fixes applied in memory and re-checked in rounds

The engine only collects findings and applies replacements; what a finding means is the rule's
business, and how it is shown the reporter's.
"""

from qaihm_lint.engine.fixes import FixOutcome, findings_gone, lint_with_fixes
from qaihm_lint.engine.folder import check_folder
from qaihm_lint.engine.run import LintResult, lint
from qaihm_lint.plan import Plan, make_plan

__all__ = [
    "FixOutcome",
    "LintResult",
    "Plan",
    "check_folder",
    "findings_gone",
    "lint",
    "lint_with_fixes",
    "make_plan",
]
