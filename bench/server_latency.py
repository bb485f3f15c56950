"""The language server against the command line, in one run on this machine (docs/server.md).

1. Latency, on the largest model folders of 0.46.1 (by hand-written Python): a one-folder CLI
   run (``qaihm-lint --no-cache FOLDER`` in a fresh process, as after an edit: the edited folder
   misses the cache anyway) against the time from a ``didChange`` of the folder's model.py to
   the ``publishDiagnostics`` of that version, in a warm server (the folder already open).
   The ratio server/CLI is the figure (target < 0.5). The server's debounce is set to 0 here:
   it is a pause the editor waits for on purpose (0.1 s by default), not work; both figures
   are printed.
2. Memory: the server's resident set after every model folder of 0.65.0 was opened once
   (a document opened, its diagnostics received, closed again), and its peak (target < 300 MB).

The releases come from ``bench/corpus.py`` (pip-downloaded wheels, unpacked once), or from
``--from DIR`` holding ``<version>/qai_hub_models``; they are copied to a scratch folder first.

Usage: python bench/server_latency.py [--from DIR] [--folders 5] [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import package_root

from qaihm_lint.server.app import DEBOUNCE_SECONDS

LINT = [sys.executable, "-m", "qaihm_lint"]
SERVER = [*LINT, "server"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def scratch_copy(version: str, source: Path | None, scratch: Path) -> Path:
    """``qai_hub_models`` of ``version``, copied under ``scratch``."""
    root = source / version / "qai_hub_models" if source is not None else package_root(version)
    target = scratch / version / "qai_hub_models"
    shutil.copytree(root, target, symlinks=True)
    return target


def python_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.py") if p.is_file())


def largest_folders(root: Path, count: int) -> list[Path]:
    folders = [
        p
        for p in (root / "models").iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "model.py").is_file()
    ]
    return sorted(folders, key=python_bytes, reverse=True)[:count]


def cli_seconds(folder: Path, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [*LINT, "--no-cache", str(folder)],
            cwd=folder.parent,
            env=ENV,
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
    return times


class Client:
    """A plain LSP client that notes when each document's diagnostics arrive."""

    def __init__(self) -> None:
        self.client = LanguageClient("bench", "1")
        self.arrived: dict[tuple[str, int | None], float] = {}
        self.event = asyncio.Event()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            self.arrived[(params.uri, params.version)] = time.perf_counter()
            self.event.set()

    async def start(self, root: Path, debounce: float) -> int:
        await self.client.start_io(*SERVER, env=ENV)
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=root.as_uri(),
                initialization_options={"debounce": debounce},
            )
        )
        self.client.initialized(types.InitializedParams())
        server = self.client._server
        assert server is not None
        return int(server.pid)

    async def wait(self, uri: str, version: int) -> float:
        while (uri, version) not in self.arrived:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), 600)
        return self.arrived[(uri, version)]

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri

    def change(self, uri: str, version: int, text: str) -> None:
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version, uri),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def server_seconds(root: Path, folders: list[Path], repeat: int) -> dict[str, list[float]]:
    client = Client()
    await client.start(root.parent, debounce=0.0)
    found: dict[str, list[float]] = {}
    try:
        for folder in folders:
            path = folder / "model.py"
            text = path.read_text(encoding="utf-8")
            uri = client.open(path, text)
            await client.wait(uri, 1)  # the folder is open: the server is warm for it
            times = []
            for number in range(repeat):
                version = number + 2
                start = time.perf_counter()
                client.change(uri, version, f"{text}\n# edit {number}\n")
                times.append(await client.wait(uri, version) - start)
            found[folder.name] = times
            client.close(uri)
    finally:
        await client.stop()
    return found


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


async def memory(root: Path) -> dict[str, Any]:
    client = Client()
    pid = await client.start(root.parent, debounce=0.0)
    start = rss_kib(pid)
    opened = 0
    try:
        for folder in sorted((root / "models").iterdir()):
            files = sorted(folder.glob("*.py")) if folder.is_dir() else []
            if folder.name.startswith(("_", ".")) or not files:
                continue
            path = folder / "model.py" if (folder / "model.py").is_file() else files[0]
            uri = client.open(path, path.read_text(encoding="utf-8", errors="replace"))
            await client.wait(uri, 1)
            client.close(uri)
            opened += 1
        end = rss_kib(pid)
    finally:
        await client.stop()
    return {"folders": opened, "start_kib": start, "end_kib": end}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help="folder of unpacked releases")
    parser.add_argument("--folders", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qaihm-server-bench-") as scratch:
        old = scratch_copy("0.46.1", args.source, Path(scratch))
        folders = largest_folders(old, args.folders)
        cli = {f.name: cli_seconds(f, args.repeat) for f in folders}
        server = asyncio.run(server_seconds(old, folders, args.repeat))
        new = scratch_copy("0.65.0", args.source, Path(scratch))
        mem = asyncio.run(memory(new))
    rows = []
    for folder in folders:
        c, s = statistics.median(cli[folder.name]), statistics.median(server[folder.name])
        rows.append({"folder": folder.name, "cli_s": c, "server_s": s, "ratio": s / c})
    print(f"{'0.46.1 folder':28} {'CLI run':>9} {'didChange->diagnostics':>23} {'ratio':>7}")
    for row in rows:
        print(
            f"{row['folder']:28} {row['cli_s']:8.3f}s {row['server_s']:22.3f}s {row['ratio']:7.3f}"
        )
    worst = max(row["ratio"] for row in rows)
    print(f"median of {args.repeat} each; worst ratio {worst:.3f} (target < 0.5)")
    debounced = max((r["server_s"] + DEBOUNCE_SECONDS) / r["cli_s"] for r in rows)
    print(
        f"with the default debounce ({DEBOUNCE_SECONDS} s) added, the worst ratio is "
        f"{debounced:.3f}"
    )
    end = mem["end_kib"]
    print(
        f"0.65.0: {mem['folders']} model folders opened once: server RSS "
        f"{end['VmRSS'] / 1024:.0f} MB, peak {end['VmHWM'] / 1024:.0f} MB (target < 300 MB; "
        f"{mem['start_kib']['VmRSS'] / 1024:.0f} MB after start)"
    )
    if args.json:
        args.json.write_text(json.dumps({"latency": rows, "memory": mem}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
