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


def process_tree_cpu(pid: int | None = None) -> dict[int, float]:
    """CPU seconds (user + system) of each live process of the tree of `pid` (default: this one)."""
    children, stats = _tree()
    tick = os.sysconf("SC_CLK_TCK")
    pids = _descendants(pid or os.getpid(), children)
    return {p: (int(stats[p][11]) + int(stats[p][12])) / tick for p in pids if p in stats}


def cpu_since(before: dict[int, float], pid: int | None = None) -> float:
    """CPU seconds the tree of `pid` spent since the `process_tree_cpu` snapshot `before`: what each live
    process added. A process that ended meanwhile (the workers of a run before, on a Ray cluster that
    outlives it) takes its CPU out of the tree, so subtracting two totals could even come out negative;
    what an ended process spent after the snapshot is not counted."""
    total = 0.0
    for p, t in process_tree_cpu(pid).items():
        was = before.get(p, 0.0)
        total += t - was if t >= was else t  # less than before: a new process under an old one's pid
    return total
