"""Layers point one way: each top-level package imports only the packages below it.

Every import statement of every module is read with `ast` (including imports inside functions), so
a lazy import cannot hide an upward edge.
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGES = ("audio", "pipeline", "models", "corpus", "training", "nodes", "graphs", "bench", "speechgraph")

ALLOWED: dict[str, set[str]] = {
    "audio": set(),
    "pipeline": {"audio"},  # ticks are samples at audio.SAMPLE_RATE; nothing of speech
    "models": {"audio"},
    "corpus": {"audio", "models"},
    "training": {"audio", "models", "corpus"},
    "nodes": {"audio", "pipeline", "models"},
    "graphs": {"nodes", "pipeline"},
    "bench": {"audio", "pipeline", "models", "corpus", "training", "nodes", "graphs", "speechgraph"},
    "speechgraph": set(PACKAGES),
}

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("training/endpoint_signals.py", "nodes"): "the end-of-query model trains on what the VAD and decoder nodes "
    "emit, laid out for the end-pointer's rule (nodes.endpoint_rule)",
}
"""Edges the rules above do not allow, each with its reason."""

FORBIDDEN_MODULES = {
    "bench": ("speechgraph.cli", "speechgraph.live"),  # benchmarks may replay as users do, not drive the CLI
    "nodes": ("pipeline.host", "pipeline.local", "pipeline.ray_runtime"),  # a node knows nothing of the runtime
}


def imports(path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def test_every_package_is_checked():
    top = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert top == set(PACKAGES)


def test_layers_point_one_way():
    wrong = []
    for package, path in modules():
        rel = str(path.relative_to(ROOT))
        for module in imports(path):
            top = module.split(".")[0]
            if top not in PACKAGES or top == package or top in ALLOWED[package]:
                continue
            if (rel, top) not in EXCEPTIONS:
                wrong.append(f"{rel} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_module_reaches_past_its_layer():
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package, path in modules()
        for module in imports(path)
        if module.startswith(FORBIDDEN_MODULES.get(package, ()))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_exceptions_are_still_needed():
    used = {(str(p.relative_to(ROOT)), m.split(".")[0]) for _, p in modules() for m in imports(p)}
    assert set(EXCEPTIONS) <= used
