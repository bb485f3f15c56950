"""What runs inside the sandbox, under the model's own interpreter: the fork server, the worker
and its stages.

Nothing here imports from the parent side (``qaihm_lint`` outside this folder): the fork server
loads this folder as a package of a private name in an interpreter that may have no qaihm-lint
installed, and the parent reads only what the worker writes on its events pipe
(``records.py``, shared by both sides). The parent's supervision, environments, caches and
hub client are the modules beside this folder.
"""
