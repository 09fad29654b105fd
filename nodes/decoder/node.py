"""The decoder node: log-mel frames in, `partial` events while decoding, a `result` with the lattice at the end.

Until the wake-word gate opens utterances (issue 4), a stream is one utterance.
Context phrases (contacts, device names) come from the node's options; the
model's weights ship in `weights/asr_rnnt.pt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.rnnt import RNNT
from nodes.decoder.beam import BeamSearch, DecoderState
from nodes.decoder.context import EMPTY, ContextGraph
from nodes.messages import FeatureFrames
from pipeline import EndOfStream, Event, Message, Node

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "asr_rnnt.pt"


@dataclass
class _Stream:
    search: DecoderState
    first_frame: int | None = None
    last_partial: str = ""


class RNNTDecoder(Node):
    def __init__(
        self,
        *,
        weights: str | None = None,
        beam: int = 8,
        context: list[str] | None = None,
        bonus: float = 2.0,
        nbest: int = 4,
        threads: int = 1,
    ) -> None:
        super().__init__()
        torch.set_num_threads(threads)
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"no recogniser weights at {path} (train them: speechgraph train asr)")
        self.search = BeamSearch(RNNT.from_checkpoint(torch.load(path, weights_only=False)), beam=beam)
        self.context = ContextGraph(context, bonus) if context else EMPTY
        self.nbest = nbest

    def new_state(self, stream: str) -> _Stream:
        return _Stream(self.search.start())

    def on_message(self, msg: Message, state: _Stream) -> Iterable[Message]:
        if not isinstance(msg, FeatureFrames):
            return ()
        if state.first_frame is None:
            state.first_frame = msg.first_frame
        self.search.accept(state.search, msg.frames, self.context)
        text = self.search.best_text(state.search)
        if text == state.last_partial:
            return ()
        state.last_partial = text
        return (Event.make("partial", stream=msg.stream, start=msg.start, end=msg.end, text=text),)

    def on_end_of_stream(self, msg: EndOfStream, state: _Stream) -> Iterable[Message]:
        if state.first_frame is None:
            return ()
        lattice = self.search.lattice(state.search, self.context, first_feature=state.first_frame)
        return (
            Event.make(
                "result",
                stream=msg.stream,
                start=msg.end,
                end=msg.end,
                utterance=0,
                revision=0,
                text=lattice.best(),
                first_pass_text=lattice.best(),
                nbest=[{"text": t, "score": s} for t, s in lattice.nbest(self.nbest)],
                lattice=lattice.to_dict(),
            ),
        )
