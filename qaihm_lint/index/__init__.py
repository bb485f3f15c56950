"""RepoIndex: a declaration-level summary of every class a model folder can inherit from.

Built with the standard library's ``ast`` (declarations only: no libcst, no import of the code),
one parse per module, lazily: a module is summarised the first time a resolution reaches it, so
a run over one folder reads only the handful of files that folder really depends on.

The index resolves names the way Python would at import time, statically: ``from x import Y as
Z``, relative imports, ``import a.b`` then ``a.b.C``, re-exports through ``__init__.py``,
``Alias = Other`` assignments, ``functools.partial`` aliases, and orders bases with C3 (the MRO).
Everything here is picklable, so a forked worker inherits whatever the parent has loaded.

A ``view`` of the index for one model folder reads that folder's own files from the folder
object (so pending fixes are seen) and notes each file outside the folder that a resolution
reads in the run's read log (``sources.note_access``), as every other check does;
``dependencies`` runs a folder's resolutions under that log, and ``dependants`` inverts it.

The parts: ``model`` (the summaries), ``parse`` (AST to summaries), ``mro`` (C3 and the
framework's roots), ``resolver`` (names to symbols), ``views`` (the index and its folder views).
"""

from qaihm_lint.index.model import ClassInfo, MethodInfo, ModuleInfo, Param, Symbol
from qaihm_lint.index.mro import Definition, Mro, is_framework, is_framework_code
from qaihm_lint.index.parse import body_is_stub, dotted, resolve_relative, top_level_statements
from qaihm_lint.index.resolver import Resolver
from qaihm_lint.index.views import FolderView, RepoIndex

__all__ = [
    "ClassInfo",
    "Definition",
    "FolderView",
    "MethodInfo",
    "ModuleInfo",
    "Mro",
    "Param",
    "RepoIndex",
    "Resolver",
    "Symbol",
    "body_is_stub",
    "dotted",
    "is_framework",
    "is_framework_code",
    "resolve_relative",
    "top_level_statements",
]
