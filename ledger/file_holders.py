"""Which other processes have a file open, as Linux's /proc shows them: for a refusal that
names what stands in its way."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
SHOWN_COMMAND = 80  # characters of a command line worth showing


def other_processes_holding(paths: Iterable[Path]) -> list[str]:
    """`pid 4242 (flero-ledger serve)` for each other process that has one of `paths` open;
    processes this user may not inspect (or a system without /proc) go unnamed."""
    wanted = {str(path.resolve()) for path in paths}
    holders = []
    for process in sorted(PROC.glob("[0-9]*"), key=lambda p: int(p.name)):
        if process.name == str(os.getpid()):
            continue
        try:
            held = any(os.readlink(fd) in wanted for fd in (process / "fd").iterdir())
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        if held:
            holders.append(
                f"pid {process.name} ({command.decode(errors='replace')[:SHOWN_COMMAND]})"
            )
    return holders
