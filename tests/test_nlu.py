"""The intent parser on grammar sentences with names it has never seen, completeness of cut requests, the node."""

from __future__ import annotations

import random

import pytest

from corpus.grammar import INTENTS, NamePool, Request, general_speech, lookalike, request
from models import lexicon
from nodes.messages import DecoderSignal, Transcript, Wake
from nodes.nlu import is_complete, parse
from nodes.nlu.node import IntentParser
from pipeline import EndOfStream, Event, Message, Reset
from pipeline.testing import run_node

# Made-up names: in no word list of the corpus, so the parser cannot have them.
POOL = NamePool(
    first_names=("zorvath", "quilleen", "brannoch", "ysmeralt", "thadwick"),
    last_names=("vexmoor", "oddlethwaite", "trundlebeck", "quarrington", "skelgard"),
    devices=("plasma globe", "orbital juicer", "snorkel pump", "glimmer box", "wobblefan"),
)
ALL_INTENTS = {
    "call",
    "send_message",
    "device_power",
    "set_temperature",
    "device_level",
    "play_music",
    "music_control",
    "set_timer",
    "set_alarm",
    "timer_control",
    "set_reminder",
    "weather",
    "shopping_list",
    "question",
    "select",
    "confirm",
}
FAMILIES = {"call", "send_message", "device_power", "device_level", "play_music", "timer", "weather", "shopping_list"}
FAMILIES |= {"question", "follow_up"}


def _requests(n: int, seed: int = 7) -> list[Request]:
    rng = random.Random(seed)
    return [request(rng, POOL) for _ in range(n)]


def _gold_in_text(req: Request) -> bool:
    """The grammar's "how cold is it in X" keeps a date slot it does not say: no parser can recover it."""
    return all(set(v.split()) <= set(req.text.split()) for v in req.slots.values())


def test_made_up_names_are_in_no_word_list():
    words = set(lexicon.FIRST_NAMES + lexicon.RARE_FIRST_NAMES + lexicon.LAST_NAMES + lexicon.RARE_LAST_NAMES)
    assert not words & set(POOL.first_names + POOL.last_names)
    assert not set(lexicon.DEVICES) & set(POOL.devices)


def test_every_intent_parses_with_unseen_names():
    reqs = _requests(1500)
    assert {r.intent for r in reqs} == ALL_INTENTS, "the draw should cover every intent of the grammar"
    assert set(INTENTS) == FAMILIES, "a new family in the grammar needs parser rules and a place in this test"
    wrong = [(r.text, r.intent, r.slots, parse(r.text)) for r in reqs if _gold_in_text(r)]
    wrong = [w for w in wrong if (w[3].intent, w[3].slots) != (w[1], w[2])]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        ("video call zorvath vexmoor at work", "call", {"contact": "zorvath vexmoor"}),
        (
            "tell quilleen oddlethwaite see you soon",
            "send_message",
            {"contact": "quilleen oddlethwaite", "message": "see you soon"},
        ),
        (
            "text brannoch meet me at the station",
            "send_message",
            {"contact": "brannoch", "message": "meet me at the station"},
        ),
        (
            "turn the nursery glimmer box off",
            "device_power",
            {"device": "glimmer box", "room": "nursery", "state": "off"},
        ),
        ("dim the wobblefan to seventy five percent", "device_level", {"device": "wobblefan", "level": "seventy five"}),
        ("play some the weeknd", "play_music", {"artist": "the weeknd"}),
        ("set an alarm for seven fifteen in the morning", "set_alarm", {"time": "seven fifteen in the morning"}),
        ("will it rain in mexico city this weekend", "weather", {"city": "mexico city", "date": "this weekend"}),
        ("remove peanut butter from my shopping list", "shopping_list", {"item": "peanut butter", "action": "remove"}),
        ("skelgard", "select", {"choice": "skelgard"}),
        ("the second one", "select", {"choice": "the second one"}),
        ("alexa call zorvath", "call", {"contact": "zorvath"}),
    ],
)
def test_slot_values(text, intent, slots):
    got = parse(text)
    assert (got.intent, got.slots) == (intent, slots)
    assert got.complete


def test_non_requests_are_none_as_in_the_manifest():
    rng = random.Random(3)
    for r in [lookalike(rng) for _ in range(200)] + [general_speech(rng) for _ in range(100)]:
        got = parse(r.text)
        assert (got.intent, got.slots, got.complete) == ("none", {}, False), r.text
    assert parse("").intent == "none"


def _grammar_allows(req: Request, prefix: str) -> bool:
    """Prefixes that are whole requests themselves: a call without its tail, a weather request without its date."""
    return (req.intent == "call" and prefix.split()[-1] == req.slots["contact"].split()[-1]) or (
        req.intent == "weather" and prefix.endswith(req.slots["city"])
    )


def test_complete_requests_and_their_cut_prefixes():
    for req in _requests(800, seed=11):
        assert is_complete(req.text), req.text
        for i in range(1, len(req.phrases)):
            prefix = " ".join(req.phrases[:i])
            if not _grammar_allows(req, prefix):
                assert not is_complete(prefix), (prefix, req.text)


@pytest.mark.parametrize(
    "text",
    [
        "call",
        "video",
        "set a timer for",
        "set a tim",
        "set a timer for twenty",
        "what is the weather in",
        "send a mess",
        "send a message to zorvath",
        "send a message to zorvath saying",
        "text zorvath",
        "turn on the",
        "turn on the kitchen",
        "turn the kitchen lights",
        "play",
        "play some",
        "play some taylor",
        "play yesterday by",
        "add milk",
        "add milk to my",
        "remind me in five minutes",
        "how much time",
        "what time is",
        "who wrote",
        "the sec",
        "call meg at",
        "will it rain in new",
        "set the thermostat to",
    ],
)
def test_incomplete(text):
    assert not is_complete(text)


@pytest.mark.parametrize(
    "text",
    [
        "call meg bauer",
        "call meg",
        "what is the weather",
        "what is the weather in boston",
        "stop",
        "yes",
        "set a timer for twenty minutes",
        "play jazz",
        "turn the kitchen lights on",
        "who wrote hamlet",
    ],
)
def test_complete(text):
    assert is_complete(text)


def test_context_snaps_a_misspelt_name():
    context = ["zorvath vexmoor", "quilleen skelgard", "kitchen lights", "plasma globe"]
    assert parse("call zorvat vexmor", context).slots == {"contact": "zorvath vexmoor"}
    assert parse("call zorvat vexmor").slots == {"contact": "zorvat vexmor"}
    assert parse("ring quileen at home", context).slots == {"contact": "quilleen"}
    assert parse("turn on the plasma glob", context).slots == {"device": "plasma globe", "state": "on"}
    assert parse("turn on the kitchen light", context).slots == {"device": "kitchen lights", "state": "on"}
    assert parse("skelgart", context).slots == {"choice": "skelgard"}
    # a name far from every context phrase stays as heard
    assert parse("call barnaby", context).slots == {"contact": "barnaby"}
    # the context tells a name cut mid-word from a whole one
    assert is_complete("call zorvath vex") and not is_complete("call zorvath vex", context)
    assert is_complete("call zorvath", context)


def _transcript(text: str, utterance: int, revision: int) -> Transcript:
    return Transcript(
        stream="s",
        start=0,
        end=16000,
        utterance=utterance,
        revision=revision,
        text=text,
        first_pass_text=text,
        nbest=((text, 0.0),),
        context=("meg bauer", "kitchen lights"),
    )


def interpret(msgs: list[Message]) -> list[Message]:
    """What the NLU node passes on for `msgs`, delivered by the node host (the end of the stream left out)."""
    return [m.replace(trace=()) for m in run_node(IntentParser, msgs, name="nlu") if not isinstance(m, EndOfStream)]


def test_node_fills_intent_and_drops_revisions_a_reset_superseded():
    call, lights = interpret(
        [_transcript("call meg bower at work", 1, 0), _transcript("turn the kitchen lights off", 1, 0)]
    )
    assert call.intent == "call" and call.slots == (("contact", "meg bauer"),)
    assert lights.slots == (("device", "kitchen lights"), ("state", "off"))

    reset = Reset(stream="s", start=16000, end=16000, utterance=1, revision=1)
    older = Reset(stream="s", start=16000, end=16000, utterance=1, revision=0)
    msgs = [
        reset,
        _transcript("call meg", 1, 0),  # dropped: reset to revision 1
        _transcript("call meg bauer", 1, 1),
        older,  # an older Reset does not lower the bar
        _transcript("call meg", 1, 0),
        _transcript("call meg", 2, 0),  # other utterances are untouched
    ]
    passed, out, passed_older, other = interpret(msgs)
    assert (passed, passed_older) == (reset, older)
    assert out.revision == 1 and out.slots == (("contact", "meg bauer"),)
    assert (other.utterance, other.revision, other.intent) == (2, 0, "call")


def test_node_ignores_other_data_and_forwards_notices_and_events():
    partial = Event.make("partial", stream="s", start=100, end=100)
    wake = Wake(stream="s", start=200, end=200, utterance=0, start_s=0.0, end_s=0.01, stage1=1.0, stage2=1.0)
    other_data = DecoderSignal(stream="s", start=300, end=300, utterance=0, text="call", last_token_s=0.01)
    assert interpret([partial, wake, other_data]) == [partial, wake]


def test_node_refuses_to_act_on_an_unsure_transcript():
    sure = _transcript("call meg bauer", 1, 0).replace(confidence=0.9)
    unsure = _transcript("call meg bauer", 2, 0).replace(confidence=0.3)
    unknown = _transcript("turn the kitchen lights off", 3, 0)  # no confidence estimated (no rescorer): acts
    out_sure, out_unsure, out_unknown = [
        m.replace(trace=())
        for m in run_node(IntentParser, [sure, unsure, unknown], name="nlu", threshold=0.5)
        if not isinstance(m, EndOfStream)
    ]
    assert out_sure.intent == "call" and out_sure.slots == (("contact", "meg bauer"),)
    assert out_unsure.intent == "unknown" and out_unsure.slots == () and out_unsure.text == "call meg bauer"
    assert out_unknown.intent == "device_power"
    out = run_node(IntentParser, [unsure], name="nlu", threshold=0.0)
    (never,) = [m for m in out if not isinstance(m, EndOfStream)]
    assert never.intent == "call"  # a zero threshold never refuses
