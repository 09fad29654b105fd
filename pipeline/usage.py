"""What a run costs the machine: CPU and resident memory of a process and everything it started.

A local Ray cluster's raylet and workers are descendants of the driver, so the
process tree counts the transport's cost as well as the nodes'. Linux (/proc).
"""

from __future__ import annotations

import os


def _tree() -> tuple[dict[int, list[int]], dict[int, list[str]]]:
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = fields
    return children, stats


def _descendants(pid: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def process_tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of the process `pid` (default: this one) and all its descendants."""
    children, stats = _tree()
    page = os.sysconf("SC_PAGE_SIZE")
    pids = _descendants(pid or os.getpid(), children)
    return sum(int(stats[p][21]) * page for p in pids if p in stats) / 2**20


def process_tree_cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of the process `pid` (default: this one) and its live descendants."""
    children, stats = _tree()
    tick = os.sysconf("SC_CLK_TCK")
    pids = _descendants(pid or os.getpid(), children)
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in pids if p in stats) / tick
