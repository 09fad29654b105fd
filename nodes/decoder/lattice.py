"""Word lattices: nodes are word prefixes, arcs are words with times and scores.

Because a node is the sequence of words before it, hypotheses that share a
beginning share nodes, every final node names one complete sentence, and a
language model can score each arc with its full history (what the rescorer does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Prefix = tuple[str, ...]


@dataclass
class Arc:
    src: Prefix
    word: str
    start: float
    end: float
    acoustic: float
    bias: float

    @property
    def dst(self) -> Prefix:
        return (*self.src, self.word)


@dataclass
class Lattice:
    arcs: dict[tuple[Prefix, str], Arc] = field(default_factory=dict)
    finals: dict[Prefix, float] = field(default_factory=dict)
    reading: str | None = None
    """What the encoder's CTC layer alone reads from the same audio (no language model in it; None: not read):
    where it disagrees with the chosen words, the prediction network may have written them
    (`nodes.confidence`)."""

    def add_arc(self, src: Prefix, word: str, start: float, end: float, acoustic: float, bias: float) -> None:
        key = (src, word)
        old = self.arcs.get(key)
        if old is None or acoustic + bias > old.acoustic + old.bias:
            self.arcs[key] = Arc(src, word, start, end, acoustic, bias)

    def add_final(self, prefix: Prefix, score: float) -> None:
        if score > self.finals.get(prefix, float("-inf")):
            self.finals[prefix] = score

    def add_path_like(self, old: Prefix, new: Prefix) -> None:
        """Arcs for `new`, a rewrite of the path `old`: words it shares with `old` keep their arcs' times and
        scores; the words that replace a span share out its time by their letters and carry its acoustic score
        on the first of them."""
        old_arcs = [self.arcs.get((old[:i], w)) for i, w in enumerate(old)]
        same = 0
        while same < min(len(old), len(new)) and old[same] == new[same]:
            same += 1
        tail = 0
        while tail < min(len(old), len(new)) - same and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        span = [a for a in old_arcs[same : len(old) - tail] if a is not None]
        start = span[0].start if span else 0.0
        end = span[-1].end if span else start
        middle = new[same : len(new) - tail]
        letters = sum(len(w) for w in middle) or 1
        at = start
        for i, w in enumerate(new):
            if i < same or i >= len(new) - tail:
                a = old_arcs[i if i < same else len(old) - (len(new) - i)]
                arc = (a.start, a.end, a.acoustic, a.bias) if a else (at, at, 0.0, 0.0)
            else:
                stop = at + (end - start) * len(w) / letters
                arc = (round(at, 3), round(stop, 3), sum(a.acoustic for a in span) if i == same else 0.0, 0.0)
                at = stop
            if (new[:i], w) not in self.arcs:
                self.add_arc(new[:i], w, *arc)

    def copy(self) -> Lattice:
        return Lattice(dict(self.arcs), dict(self.finals), self.reading)

    def with_times(self, to_seconds: Callable[[float], float]) -> Lattice:
        arcs = {
            k: Arc(a.src, a.word, round(to_seconds(a.start), 3), round(to_seconds(a.end), 3), a.acoustic, a.bias)
            for k, a in self.arcs.items()
        }
        return Lattice(arcs, dict(self.finals), self.reading)

    # -- reading it ----------------------------------------------------------------

    def nbest(self, n: int = 4) -> list[tuple[str, float]]:
        ranked = sorted(self.finals.items(), key=lambda kv: kv[1], reverse=True)[:n]
        return [(" ".join(p), round(s, 3)) for p, s in ranked]

    def best(self) -> str:
        top = self.nbest(1)
        return top[0][0] if top else ""

    def cut(self, t: float) -> Lattice:
        """The lattice up to audio time `t`: arcs that end by then, finals at the prefixes that survive."""
        arcs: dict[tuple[Prefix, str], Arc] = {}
        for k, a in sorted(self.arcs.items(), key=lambda ka: len(ka[0][0])):
            # an arc stays if it ends by t and its source is still reachable: two hypotheses may have
            # timed a shared prefix differently, so a child can end before the parent arc kept for it
            if a.end <= t + 1e-6 and (not a.src or (a.src[:-1], a.src[-1]) in arcs):
                arcs[k] = a
        finals: dict[Prefix, float] = {}
        for prefix, score in self.finals.items():
            p = prefix
            while p and (p[:-1], p[-1]) not in arcs:
                p = p[:-1]
            finals[p] = max(finals.get(p, float("-inf")), score)
        return Lattice(arcs, finals, self.reading)

    @property
    def nodes(self) -> list[Prefix]:
        seen = {(): None}
        for a in self.arcs.values():
            seen.setdefault(a.src, None)
            seen.setdefault(a.dst, None)
        for p in self.finals:
            seen.setdefault(p, None)
        return list(seen)

    # -- serialising ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        index = {p: i for i, p in enumerate(self.nodes)}
        return {
            "nodes": len(index),
            "arcs": [
                {
                    "from": index[a.src],
                    "to": index[a.dst],
                    "word": a.word,
                    "start": a.start,
                    "end": a.end,
                    "acoustic": round(a.acoustic, 3),
                    "bias": round(a.bias, 3),
                }
                for a in self.arcs.values()
            ],
            "finals": [{"node": index[p], "score": round(s, 3), "text": " ".join(p)} for p, s in self.finals.items()],
        } | ({} if self.reading is None else {"reading": self.reading})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lattice:
        prefix: dict[int, Prefix] = {0: ()}
        lat = cls()
        pending = list(d["arcs"])
        while pending:
            rest = []
            for a in pending:
                if a["from"] in prefix:
                    src = prefix[a["from"]]
                    prefix[a["to"]] = (*src, a["word"])
                    lat.arcs[(src, a["word"])] = Arc(src, a["word"], a["start"], a["end"], a["acoustic"], a["bias"])
                else:
                    rest.append(a)
            if len(rest) == len(pending):
                raise ValueError("lattice arcs do not connect to the start node")
            pending = rest
        for f in d["finals"]:
            lat.finals[tuple(f["text"].split())] = f["score"]
        lat.reading = d.get("reading")
        return lat

    def to_dot(self) -> str:
        index = {p: i for i, p in enumerate(self.nodes)}
        lines = ["digraph lattice {", '  rankdir=LR; node [shape=circle, label=""];']
        for p, i in index.items():
            shape = "doublecircle" if p in self.finals else "circle"
            lines.append(f"  n{i} [shape={shape}];")
        for a in self.arcs.values():
            label = f"{a.word}\\n{a.start:.2f}-{a.end:.2f}s\\nac {a.acoustic:.1f} b {a.bias:.1f}"
            lines.append(f'  n{index[a.src]} -> n{index[a.dst]} [label="{label}"];')
        lines.append("}")
        return "\n".join(lines)

    def draw(self, path: str) -> None:
        """Render to SVG or PNG (by the file's suffix) with graphviz's `dot`."""
        if not shutil.which("dot"):
            raise RuntimeError("graphviz is not installed (apt-get install graphviz)")
        fmt = path.rsplit(".", 1)[-1]
        subprocess.run(["dot", f"-T{fmt}", "-o", path], input=self.to_dot().encode(), check=True)
