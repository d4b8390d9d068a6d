"""The process tree, read from /proc: for tests and benchmarks that watch the tag reader's worker processes."""

from __future__ import annotations

import os
from pathlib import Path


def parent_pids() -> dict[int, int]:
    """Every process's parent pid (processes that end while they are read are left out)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                # The command name in field 2 may hold spaces and brackets: the fields after it start past ")".
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    return parents


def descendant_pids(pid: int | None = None) -> list[int]:
    """The children of ``pid`` (this process by default), their children, and so on."""
    parents = parent_pids()
    found: list[int] = []
    frontier = {os.getpid() if pid is None else pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found += frontier
    return found
