"""The decoder node: streaming RNN-T beam search over each utterance the gate opens.

Per chunk it emits a `DecoderSignal` (for the end-pointers) and, when the best
hypothesis changes, a `partial` event. End-point events come back on feedback
edges, in audio-time order, so when one at audio time t is handled the decoder
has decoded at least up to t (it may have run a little past, hence the cut):

- speculative at t: the lattice cut at t goes out as revision 0 (not final);
- final at t', after a speculative one: if the best path cut at t' is what
  revision 0 said, a `confirm` event follows it; otherwise a `Reset` for the
  utterance and revision 1 (final) follow it;
- final with no speculative one before it: revision 0, final.

The gate's `gate_closed` (length limit) and the end of the stream finalise an
utterance too, so every utterance gets exactly one final lattice. Without a gate
(plain `FeatureFrames`), a stream is one utterance that ends with the stream.

Context (contacts, device names, expected answers) comes from the node's
options and from `context` events in the stream; the context in force when an
utterance starts is the one it is decoded with (best effort, never waited for).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audio import seconds
from models.rnnt import RNNT, quantize_int8
from nodes.decoder.beam import BeamSearch, DecoderState
from nodes.decoder.context import BONUS, EMPTY, MAX_BONUS, ContextGraph
from nodes.decoder.lattice import Lattice
from nodes.decoder.respell import MAX_DISTANCE
from nodes.messages import DecoderSignal, FeatureFrames, LatticeMessage, UtteranceFeatures
from pipeline import EndOfStream, Event, Message, Node, Reset

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "asr_rnnt.pt"


@dataclass
class _Utterance:
    id: int
    search: DecoderState
    context: ContextGraph
    phrases: tuple[str, ...]
    first_frame: int
    decoded_to: int = 0  # tick
    last_partial: str = ""
    speculative_text: str | None = None
    final: bool = False


@dataclass
class _Stream:
    phrases: tuple[str, ...]
    context: ContextGraph
    utt: _Utterance | None = None
    finished: set[int] = field(default_factory=set)


class RNNTDecoder(Node):
    def __init__(
        self,
        *,
        weights: str | None = None,
        beam: int = 8,
        context: list[str] | None = None,
        bonus: float = BONUS,
        max_bonus: float | None = MAX_BONUS,
        nbest: int = 8,
        threads: int = 1,
        int8: bool = False,
        respell: float = MAX_DISTANCE,
        verify: bool = True,
    ) -> None:
        super().__init__()
        torch.set_num_threads(threads)
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"no recogniser weights at {path} (train them: speechgraph train asr)")
        model = RNNT.from_checkpoint(torch.load(path, weights_only=False))
        self.search = BeamSearch(quantize_int8(model) if int8 else model, beam=beam, respell=respell, verify=verify)
        self.bonus, self.max_bonus = bonus, max_bonus
        self.phrases = tuple(context or ())
        self.context = self._graph(self.phrases)
        self.nbest = nbest

    def _graph(self, phrases: tuple[str, ...]) -> ContextGraph:
        return ContextGraph(phrases, self.bonus, self.max_bonus) if phrases else EMPTY

    def new_state(self, stream: str) -> _Stream:
        return _Stream(self.phrases, self.context)

    # -- audio ---------------------------------------------------------------------

    def on_message(self, msg: Message, st: _Stream) -> Iterable[Message]:
        if not isinstance(msg, FeatureFrames | UtteranceFeatures):
            return ()
        utterance = msg.utterance if isinstance(msg, UtteranceFeatures) else 0
        out: list[Message] = []
        if st.utt is None or st.utt.id != utterance:
            if utterance in st.finished:
                return ()  # frames the gate still sends after the final end-point
            if st.utt is not None:
                out.extend(self._finalise(msg.stream, st, msg.start, "superseded"))
            st.utt = _Utterance(utterance, self.search.start(), st.context, st.phrases, msg.first_frame)
        u = st.utt
        self.search.accept(u.search, msg.frames, u.context)
        u.decoded_to = msg.end
        best = self.search.best(u.search, u.context)
        last_token = self.search.frame_end_tick(best.times[-1], u.first_frame) if best and best.times else msg.start
        text = " ".join(best.words()) if best else ""
        out.append(
            DecoderSignal(
                stream=msg.stream,
                start=msg.start,
                end=msg.end,
                utterance=u.id,
                revision=0,
                text=text,
                last_token_s=round(seconds(last_token), 3),
            )
        )
        if text != u.last_partial:
            u.last_partial = text
            out.append(
                Event.make("partial", stream=msg.stream, start=msg.start, end=msg.end, utterance=u.id, text=text)
            )
        return out

    # -- end-points and context ------------------------------------------------------

    def on_control(self, msg: Message, st: _Stream) -> Iterable[Message]:
        if not isinstance(msg, Event):
            return (msg,)
        fields = msg.data
        if msg.name == "context":
            st.phrases = tuple(fields.get("phrases") or ())
            st.context = self._graph(st.phrases)
            return ()
        if msg.name == "endpoint":
            u = st.utt
            if u is None or u.final or fields.get("utterance") != u.id:
                return ()  # an end-point for an utterance already finalised
            if fields.get("kind") == "speculative":
                if u.speculative_text is not None:
                    return ()
                lattice = self._lattice(u, msg.end)
                u.speculative_text = lattice.best()
                return (self._message(msg.stream, u, lattice, 0, "speculative", msg.end, final=False),)
            return self._finalise(msg.stream, st, msg.end, "final")
        if msg.name == "gate_closed":
            if st.utt is not None and not st.utt.final and fields.get("utterance") == st.utt.id:
                return (msg, *self._finalise(msg.stream, st, msg.end, "max_length"))
        return (msg,)

    def on_end_of_stream(self, msg: EndOfStream, st: _Stream) -> Iterable[Message]:
        if st.utt is None or st.utt.final:
            return ()
        return self._finalise(msg.stream, st, max(msg.end, st.utt.decoded_to), "end_of_stream")

    # -- results ---------------------------------------------------------------------

    def _finalise(self, stream: str, st: _Stream, t: int, kind: str) -> list[Message]:
        u = st.utt
        assert u is not None
        u.final = True
        st.finished.add(u.id)
        lattice = self._lattice(u, t)
        if u.speculative_text is None:
            return [self._message(stream, u, lattice, 0, kind, t, final=True)]
        if lattice.best() == u.speculative_text:
            return [Event.make("confirm", stream=stream, start=t, end=t, utterance=u.id, revision=0, at_s=seconds(t))]
        return [
            Reset(stream=stream, start=t, end=t, utterance=u.id, revision=1),
            self._message(stream, u, lattice, 1, kind, t, final=True),
        ]

    def _lattice(self, u: _Utterance, t: int) -> Lattice:
        """The lattice as of audio time t: hypotheses cut at the last encoder frame that ends by t."""
        if t >= u.decoded_to:
            return self.search.lattice(u.search, u.context, first_feature=u.first_frame)
        frames = 0
        while frames < u.search.enc_frames and self.search.frame_end_tick(frames, u.first_frame) <= t:
            frames += 1
        cut = self.search.lattice(u.search, u.context, cut_frame=frames, first_feature=u.first_frame)
        return cut.cut(seconds(t))

    def _message(self, stream: str, u: _Utterance, lattice: Lattice, revision: int, kind: str, t: int, final: bool):
        return LatticeMessage(
            stream=stream,
            start=t,
            end=t,
            utterance=u.id,
            revision=revision,
            lattice=lattice.to_dict(),
            text=lattice.best(),
            nbest=tuple(lattice.nbest(self.nbest)),
            context=u.phrases,
            endpoint=kind,
            endpoint_s=round(seconds(t), 3),
            final=final,
        )
