"""A rule-based intent parser over the assistant's requests (the grammar `corpus.grammar` speaks).

Each intent is a few regular expressions with named groups; the fixed words
come from the grammar, the slots are open: a contact or a device is whatever
words fill its position, so names never seen anywhere still parse. The
user's context (contacts, device names) snaps a slot to the closest context
phrase when the recognised words are a small edit away, since recognisers
misspell rare names.

`complete` says whether every required slot is there and none looks cut off.
The end-pointers ask it of every partial hypothesis, so a slot that is a
strict prefix of a phrase we know (a city, a message, a context name) or that
ends in a function word counts as unfinished: a false "complete" cuts the
speaker off, a false "incomplete" only costs the usual end-point wait.
Intents and slot names are the manifest's; text that is no request is "none".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from models import lexicon
from models.lexicon import ONES, TENS

NONE = "none"
"""The manifest's intent for look-alikes, general speech and anything unparsed."""


@dataclass(frozen=True)
class Interpretation:
    """What a transcript asks for; `complete` tells the end-pointers the speaker may have finished."""

    intent: str
    slots: dict[str, str] = field(default_factory=dict)
    complete: bool = False


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, punctuation other than apostrophes dropped."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _alt(phrases: Iterable[str]) -> str:
    """A regex alternation of literal phrases, longest first so the longest wins."""
    return "(?:" + "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True)) + ")"


def _phrases(items: Iterable[str]) -> frozenset[str]:
    return frozenset(normalise(p) for p in items if p.strip())


# ---- word classes -------------------------------------------------------------------------------

_NUMBER_WORDS = [w for w in ONES + TENS if w != "_"] + ["hundred", "a", "an", "half"]
NUM = rf"{_alt(_NUMBER_WORDS)}(?: {_alt(_NUMBER_WORDS)})*"
UNIT = r"(?:second|minute|hour|day)s?"
DURATION = rf"{NUM} {UNIT}(?: and {NUM} {UNIT})?"
DAYPART = _alt(
    [
        "am",
        "pm",
        "a m",
        "p m",
        "in the morning",
        "in the afternoon",
        "in the evening",
        "at night",
        "tonight",
        "o'clock",
        "oclock",
    ]
)
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WHEN = _alt(
    [
        "today",
        "tonight",
        "tomorrow",
        "this weekend",
        "this week",
        "next week",
        "this morning",
        "this afternoon",
        "this evening",
        "tomorrow morning",
        "tomorrow night",
    ]
    + [f"on {d}" for d in _DAYS]
)
WHERE = _alt(
    [
        "on mobile",
        "on his mobile",
        "on her mobile",
        "on their mobile",
        "on the mobile",
        "on cell",
        "at home",
        "at work",
        "at the office",
        "on speaker",
    ]
)
ORDINAL = _alt(["first", "second", "third", "fourth", "fifth", "last", "next", "other", "previous"])

FUNCTION_WORDS = frozenset(
    "the a an to of in on at for and or my by with from some saying is are was this that his her their your".split()
)
"""A slot that ends in one of these was cut off mid-phrase."""

ROOMS = _phrases(lexicon.ROOMS)
KNOWN: dict[str, frozenset[str]] = {
    # Closed-ish classes: used only to tell a cut-off value ("new" of "new york") from a whole one,
    # never to reject a value we have not seen.
    "city": _phrases(lexicon.CITIES),
    "artist": _phrases(lexicon.ARTISTS),
    "song": _phrases(lexicon.SONGS),
    "genre": _phrases(lexicon.GENRES),
    "message": _phrases(lexicon.MESSAGES),
    "item": _phrases(lexicon.ITEMS),
    "device": _phrases(lexicon.DEVICES) | ROOMS,
    "question": _phrases(lexicon.QUESTIONS),
}
LOOKALIKES = _phrases(lexicon.LOOKALIKES)
"""Words that sound like the wake word: never a bare-name answer."""

_MESSAGE_STARTERS = frozenset(m.split()[0] for m in KNOWN["message"]) | frozenset(
    "i i'm im we we're you you're please don't dont let's lets are will it what where when how meet running on "
    "hi hello hey love sorry thank thanks see bring pick buy remember get come leave can could would should "
    "my our your the dinner lunch breakfast good happy congratulations no yes ok okay running late".split()
)
"""Words a message typically starts with: where "text meg bauer see you soon" splits contact from message."""


# ---- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    intent: str
    pattern: re.Pattern[str]
    required: tuple[str, ...]
    fixed: dict[str, str]
    """Slots the rule always sets (the shopping list's action)."""


def _rule(intent: str, pattern: str, required: Sequence[str] = (), **fixed: str) -> _Rule:
    return _Rule(intent, re.compile(pattern), tuple(required), fixed)


_CALL = _alt(["video call", "call", "phone", "ring", "dial"])
_RULES: list[_Rule] = [
    _rule(
        "confirm",
        r"(?P<answer>yes|no|yes please|no thanks|no thank you|cancel|sure|okay|ok|yeah|yep|nope|"
        r"never mind)",
        ["answer"],
    ),
    _rule(
        "music_control",
        r"(?:pause|stop|resume) the music|(?:skip|next) (?:this |the )?song|"
        r"turn the volume (?:up|down)|volume (?:up|down)|stop|pause|resume",
    ),
    _rule("timer_control", r"(?:cancel|stop) the (?:timer|alarm)|how much time is left(?: on the timer)?"),
    _rule("select", rf"(?P<choice>the {ORDINAL} one)", ["choice"]),
    _rule("set_timer", rf"set an? timer(?: for(?: (?P<duration>{DURATION}))?)?", ["duration"]),
    _rule("set_alarm", rf"set an? alarm(?: for(?: (?P<time>{NUM}(?P<part> {DAYPART})?))?)?", ["time", "part"]),
    _rule(
        "set_reminder",
        rf"remind me(?: in(?: (?P<duration>{DURATION}))?)?(?: to(?: (?P<task>.+))?)?",
        ["duration", "task"],
    ),
    _rule("set_reminder", rf"remind me to (?P<task>.+?) in (?P<duration>{DURATION})", ["duration", "task"]),
    _rule(
        "set_temperature",
        rf"set the (?:thermostat|temperature|heating)(?: to(?: (?P<temperature>{NUM})"
        r"(?P<unit> degrees)?)?)?",
        ["temperature", "unit"],
    ),
    _rule(
        "device_level",
        rf"(?:set|dim|brighten) the (?P<device>.+?)(?: to(?: (?P<level>{NUM})(?P<unit> percent)?)?)?",
        ["device", "level", "unit"],
    ),
    _rule("device_power", r"(?:turn|switch) (?P<state>on|off)(?: the)?(?: (?P<target>.+))?", ["state", "target"]),
    _rule("device_power", r"(?:turn|switch) (?:the )?(?P<target>.+?) (?P<state>on|off)", ["state", "target"]),
    _rule("question", r"(?P<question>tell me a joke|tell me (?:about|the|a|something) .+)", ["question"]),
    _rule("call", rf"{_CALL}(?: (?P<contact>.+?))?(?: (?P<where>{WHERE}))?", ["contact"]),
    _rule(
        "send_message",
        r"send an? (?:text )?message(?: to(?: (?P<contact>.+?))?)?(?: saying(?: (?P<message>.+))?)?",
        ["contact", "message"],
    ),
    _rule("send_message", r"(?:text|tell|message) (?P<rest>.+)", ["contact", "message"]),
    _rule("play_music", r"play (?P<song>.+) by(?: (?P<artist>.+))?", ["song", "artist"]),
    _rule("play_music", r"play some(?: (?P<artist>.+))?", ["artist"]),
    _rule("play_music", r"play(?: (?P<genre>.+))?", ["genre"]),
    _rule("weather", rf"(?:what is|what's|whats) the weather(?: like)?(?: in (?P<city>.+?))?(?: (?P<date>{WHEN}))?"),
    _rule("weather", rf"will it (?:rain|snow)(?: in (?P<city>.+?))?(?: (?P<date>{WHEN}))?"),
    _rule("weather", rf"how (?:cold|hot|warm) is it(?: in (?P<city>.+?))?(?: (?P<date>{WHEN}))?"),
    _rule(
        "shopping_list",
        r"(?:add|put)(?: (?P<item>.+?))?(?P<list> (?:to|on) (?:my |the )?"
        r"(?:shopping |grocery )?list)?",
        ["item", "list"],
        action="add",
    ),
    _rule(
        "shopping_list",
        r"(?:remove|take)(?: (?P<item>.+?))?(?P<list> (?:from|off) (?:my |the )?"
        r"(?:shopping |grocery )?list)?",
        ["item", "list"],
        action="remove",
    ),
    _rule(
        "question", r"(?P<question>(?:what|what's|whats|who|whom|whose|when|where|why|how|which)(?: .+)?)", ["question"]
    ),
]
_INTERNAL_GROUPS = frozenset({"part", "unit", "list", "where", "task", "rest"})
"""Groups that only decide completeness; the manifest has no slot for them."""

_KNOWN_WHOLE = frozenset(
    KNOWN["question"]
    | {
        "pause the music",
        "skip this song",
        "turn the volume up",
        "cancel the timer",
        "stop the alarm",
        "how much time is left",
        "the first one",
        "the second one",
        "the third one",
        "the last one",
        "yes please",
        "no thanks",
        "yes",
        "no",
        "cancel",
        "stop",
    }
)
"""Fixed sentences of the grammar: a strict prefix of one ("how much time") is unfinished."""

_BARE_NAME_STOP = (
    FUNCTION_WORDS
    | frozenset(
        "call phone ring dial video send text tell message turn switch set dim play pause skip stop add put remove "
        "take remind what whats who how when where why which will cancel yes no the".split()
    )
    | frozenset(_NUMBER_WORDS)
)
"""Single words that start a request or are grammar words, so never a bare last name."""


# ---- edit distance and snapping -------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _allowed(n: int) -> int:
    """Edits tolerated for a phrase of n characters: 1 up to 4, 2 up to 8, then 3."""
    return 1 if n <= 4 else 2 if n <= 8 else 3


@lru_cache(maxsize=1024)
def _candidates(context: tuple[str, ...]) -> tuple[str, ...]:
    """Context phrases and their first and last words (people are called by first or last name alone)."""
    out: list[str] = []
    for p in context:
        p = normalise(p)
        if p:
            words = p.split()
            out += [p, words[0], words[-1]] if len(words) > 1 else [p]
    return tuple(dict.fromkeys(out))


def snap(value: str, context: Sequence[str]) -> tuple[str, float]:
    """(closest context phrase or word, its edit distance per character) or (value, inf) when none is close."""
    best, best_cost = value, float("inf")
    squashed = value.replace(" ", "")
    for cand in _candidates(tuple(context)):
        if cand == value:
            return cand, 0.0
        d = min(edit_distance(value, cand), edit_distance(squashed, cand.replace(" ", "")) + 0.5)
        if d <= _allowed(len(cand)) and d <= 0.4 * len(cand):
            cost = d / len(cand) + 0.01 * abs(len(value.split()) - len(cand.split()))
            if cost < best_cost:
                best, best_cost = cand, cost
    return best, best_cost


def _cut_name(value: str, context: tuple[str, ...]) -> bool:
    """True when `value` is a strict prefix of a context name and no name itself ("meg bau" of "meg bauer")."""
    names = _candidates(context)
    return value not in names and any(n.startswith(value) for n in names)


# ---- slot checks ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _known_prefixes(kind: str) -> frozenset[str]:
    """Strict character prefixes of the known values of a slot kind that are not themselves known."""
    known = KNOWN.get(kind, frozenset())
    return frozenset(v[:i] for v in known for i in range(1, len(v)) if v[:i] not in known)


_WHOLE_PREFIXES = frozenset(v[:i] for v in _KNOWN_WHOLE for i in range(1, len(v))) - _KNOWN_WHOLE


def _unfinished(kind: str, value: str, context: tuple[str, ...]) -> bool:
    """True when a slot value looks cut off: empty, ending in a function word, or a strict prefix of a known phrase."""
    if not value:
        return True
    if value.rsplit(" ", 1)[-1] in FUNCTION_WORDS:
        return True
    if value in _known_prefixes(kind):
        return True
    return kind in ("contact", "device", "choice") and bool(context) and _cut_name(value, context)


# ---- parsing -------------------------------------------------------------------------------------


def _split_target(target: str, context: Sequence[str]) -> tuple[str, str]:
    """(room, device) of "kitchen ceiling fan"; the context decides "garden lights" vs garden + lights."""
    splits = [("", target)] + [(room, target[len(room) + 1 :]) for room in ROOMS if target.startswith(room + " ")]
    if context:
        scored = [(snap(dev, context)[1], -len(dev), room, dev) for room, dev in splits]
        cost, _, room, dev = min(scored)
        if cost < float("inf"):
            return room, dev
    return max(splits, key=lambda s: len(s[0]))


def _split_message(rest: str, context: Sequence[str]) -> tuple[str, str]:
    """Contact and message of "text meg bauer see you soon": a known message, a context name, then a starter word."""
    words = rest.split()
    if len(words) == 1:
        return rest, ""
    best: tuple[float, str, str] | None = None
    for k in range(1, min(3, len(words) - 1) + 1):
        contact, message = " ".join(words[:k]), " ".join(words[k:])
        cost = 0.0 if message in KNOWN["message"] else 1.0 if words[k] in _MESSAGE_STARTERS else 2.0
        if context:
            cost += min(snap(contact, context)[1], 1.0)
        cost += 0.1 * abs(k - 1.5) + (0.5 if k == 3 else 0.0)
        if best is None or cost < best[0]:
            best = (cost, contact, message)
    assert best is not None
    if best[0] >= 2.0 and len(words) <= 2:
        return rest, ""  # "text meg bauer": no message yet
    return best[1], best[2]


_MARKERS = frozenset({"part", "unit", "list", "state"})
"""Groups that only need to be there."""


def _interpret(rule: _Rule, m: re.Match[str], context: tuple[str, ...], snapping: bool) -> Interpretation:
    """Slots of a matched rule, split and snapped with the context, and whether they are all finished."""
    groups = {k: v or "" for k, v in m.groupdict().items()}
    if "rest" in groups:
        groups["contact"], groups["message"] = _split_message(groups.pop("rest"), context if snapping else ())
    if "target" in groups:
        target = groups.pop("target")
        groups["room"], groups["device"] = _split_target(target, context if snapping else ()) if target else ("", "")
    complete = True
    for name in rule.required:
        name = "device" if name == "target" else name
        value = groups.get(name, "")
        complete &= bool(value) if name in _MARKERS else not _unfinished(name, value, context)
    if groups.get("device") in ROOMS:
        complete = False  # "turn on the kitchen": a room, the device still to come
    if groups.get("genre") and groups["genre"] not in KNOWN["genre"]:
        complete = False  # "play yesterday" is the start of "play yesterday by the beatles"
    if groups.get("city"):
        complete &= not _unfinished("city", groups["city"], context)
    if m.string in _WHOLE_PREFIXES:
        complete = False  # "how much time", "the second"
    if rule.intent == "question" and len(m.string.split()) < 2:
        complete = False
    slots = {k: v for k, v in groups.items() if v and k not in _INTERNAL_GROUPS} | dict(rule.fixed)
    if snapping and context:
        for name in ("contact", "device"):
            if name in slots:
                slots[name] = snap(slots[name], context)[0]
    return Interpretation(rule.intent, slots, complete)


_HEADS: dict[str, str] = (
    {
        "video call": "call",
        "send a message to": "send_message",
        "send a text message to": "send_message",
        "turn on the": "device_power",
        "turn off the": "device_power",
        "switch on the": "device_power",
        "switch off the": "device_power",
        "turn the volume up": "music_control",
        "pause the music": "music_control",
        "skip this song": "music_control",
        "set a timer for": "set_timer",
        "set an alarm for": "set_alarm",
        "set the thermostat to": "set_temperature",
        "cancel the timer": "timer_control",
        "stop the alarm": "timer_control",
        "how much time is left": "timer_control",
        "remind me in": "set_reminder",
        "what is the weather in": "weather",
        "will it rain in": "weather",
        "how cold is it in": "weather",
        "the first one": "select",
        "the second one": "select",
        "the third one": "select",
        "the last one": "select",
        "yes please": "confirm",
        "no thanks": "confirm",
        "set the": "device_level",
        "dim the": "device_level",
        "turn the": "device_power",
        "switch the": "device_power",
        "play some": "play_music",
        "remind me to": "set_reminder",
    }
    | {w: "call" for w in ("call", "phone", "ring", "dial")}
    | {w: "send_message" for w in ("text", "tell")}
    | {w: "shopping_list" for w in ("add", "put", "remove")}
    | {
        "play": "play_music",
        "turn": "device_power",
        "switch": "device_power",
        "set": "set_timer",
        "remind": "set_reminder",
    }
    | {q: "question" for q in KNOWN["question"]}
)
"""Fixed openings of the grammar, for text cut inside one ("send a mess", "the sec")."""


def _prefix(text: str) -> Interpretation:
    """The intent of a request cut before its first slot, never complete; "none" when nothing fits."""
    inside = [h for h in _HEADS if h.startswith(text)]
    if inside:
        return Interpretation(_HEADS[min(inside, key=len)], {}, False)
    past = [h for h in _HEADS if text.startswith(h + " ")]
    if past:
        return Interpretation(_HEADS[max(past, key=len)], {}, False)
    return Interpretation(NONE)


def _bare_name(text: str, context: tuple[str, ...], snapping: bool) -> Interpretation | None:
    """A follow-up answer that is only a name ("bauer"), the grammar's `select` with a last name."""
    words = text.split()
    if text in LOOKALIKES or words[0] in _BARE_NAME_STOP:
        return None
    if snapping and context and len(words) <= 2:
        name, cost = snap(text, context)
        if cost < float("inf"):
            return Interpretation("select", {"choice": name}, True)
    if len(words) != 1 or not text.isalpha() or len(text) < 3:  # "t" is a word being heard, not a name
        return None
    return Interpretation("select", {"choice": text}, not (context and _cut_name(text, context)))


def _parse(text: str, context: Sequence[str], snapping: bool) -> Interpretation:
    text = normalise(text).removeprefix(lexicon.WAKE_WORD + " ")  # a transcript that kept the wake word
    if not text:
        return Interpretation(NONE)
    ctx = tuple(context)
    for rule in _RULES:
        m = rule.pattern.fullmatch(text)
        if m:
            if rule.intent == "question":
                cut = _prefix(text)
                if cut.intent not in (NONE, "question"):
                    return cut  # "what is the weather in", "how much time"
            return _interpret(rule, m, ctx, snapping)
    if text in KNOWN["question"]:
        return Interpretation("question", {"question": text}, True)
    bare = _bare_name(text, ctx, snapping)
    return bare if bare is not None else _prefix(text)


def parse(text: str, context: Sequence[str] = ()) -> Interpretation:
    """Intent and slots of one transcript; `complete` when every required slot is there and finished.

    `context` (contact and device phrases) snaps a contact or device to the closest one a few edits away.
    """
    return _parse(text, context, snapping=True)


def is_complete(text: str, context: Sequence[str] = ()) -> bool:
    """True when `text` is a whole request: every required slot present and none cut off.

    Cheap enough for every partial hypothesis: no snapping; `context` only marks names cut mid-word.
    """
    return _parse(text, context, snapping=False).complete
