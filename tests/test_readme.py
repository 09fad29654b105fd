"""The README as a user reads it: its size, its two opening commands, and every example it marks as
quick runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
MARKER = "<!-- README-TESTED"


def marked_examples() -> list[str]:
    """The lines of each ```bash block that follows a README-TESTED marker."""
    commands = []
    for match in re.finditer(re.escape(MARKER) + r".*?-->\s*```bash\n(.*?)```", README, re.S):
        commands += [line.strip() for line in match.group(1).splitlines() if line.strip()]
    return commands


def test_readme_is_short_and_starts_with_the_install_and_test_commands():
    assert len(README.encode()) <= 12 * 1024
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "bash .ci/install && speechgraph replay data/demo --context data/demo/contacts.txt"
    assert blocks[1].strip() == "bash .ci/install --test && ruff check . && python3 -m pytest -q"
    assert README.index(blocks[1]) < README.index("## ")  # nothing comes before them but the title


def test_readme_marks_its_quick_examples():
    commands = marked_examples()
    assert len(commands) >= 5 and all(c.startswith("speechgraph ") for c in commands)


@pytest.mark.parametrize(
    "command", [pytest.param(c, marks=pytest.mark.ray) if "--runtime ray" in c else c for c in marked_examples()]
)
def test_readme_example_runs(command, tmp_path):
    """Run from a scratch folder that sees the repository's data, so outputs land there."""
    (tmp_path / "data").symlink_to(ROOT / "data")
    line = command.replace("speechgraph ", f"{sys.executable} -m speechgraph ", 1)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    if " replay " in line:
        out = result.stdout or (tmp_path / "events.jsonl").read_text()
        events = [json.loads(x) for x in out.splitlines()]
        assert [e for e in events if e["event"] == "result" and e["text"]]
        assert not [e for e in events if e["event"] == "error"]
