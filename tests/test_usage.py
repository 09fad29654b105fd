"""What a run costs the machine, counted over the process tree (`pipeline.usage`)."""

from __future__ import annotations

import subprocess
import sys

from pipeline.usage import cpu_since, process_tree_cpu

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\nprint('burnt', flush=True)\n"


def burner() -> subprocess.Popen:
    """A child that spends 0.4 s of CPU, says so, and then waits."""
    child = subprocess.Popen([sys.executable, "-c", BURN + "import time; time.sleep(60)"], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"burnt"
    return child


def test_cpu_since_counts_what_live_processes_spent_and_not_what_ended_ones_take_away():
    """A process that ends during the measurement (a run before's worker) takes its CPU out of the tree's total;
    what the others spent meanwhile is still counted."""
    old = burner()
    before = process_tree_cpu()
    assert before.get(old.pid, 0.0) >= 0.35
    old.kill()
    old.wait()
    new = burner()
    try:
        assert cpu_since(before) >= 0.35
        assert sum(process_tree_cpu().values()) - sum(before.values()) < 0.3  # what subtracting totals reads
    finally:
        new.kill()
        new.wait()
