"""A grammar of assistant requests with intents and slots.

Every sentence is lower-case words (numbers spelled out), as a recogniser
should write it. A request is made of phrases; the synthesiser may put a
pause between two phrases ("call ... meg bauer"), which is how the corpus gets
the mid-request hesitations that fool a speculative end-pointer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from models import lexicon
from models.lexicon import ONES, TENS


def number_words(n: int) -> str:
    """0..999 as words: 25 -> 'twenty five'."""
    if not 0 <= n < 1000:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))


@dataclass(frozen=True)
class NamePool:
    """The contact and device names one split may use."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    devices: tuple[str, ...]


@dataclass
class Request:
    phrases: list[str]
    intent: str
    slots: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    """Contact and device names in the request: what name recall is measured on."""

    @property
    def text(self) -> str:
        return " ".join(self.phrases)


def _contact(rng: random.Random, pool: NamePool) -> tuple[str, list[str]]:
    first = rng.choice(pool.first_names)
    if rng.random() < 0.6:
        last = rng.choice(pool.last_names)
        return f"{first} {last}", [first, last]
    return first, [first]


def _call(rng: random.Random, pool: NamePool) -> Request:
    who, names = _contact(rng, pool)
    verb = rng.choice(["call", "call", "phone", "ring", "dial", "video call"])
    tail = rng.choice(["", "", "", "on mobile", "at home", "at work"])
    phrases = [verb, who] + ([tail] if tail else [])
    return Request(phrases, "call", {"contact": who}, names)


def _message(rng: random.Random, pool: NamePool) -> Request:
    who, names = _contact(rng, pool)
    msg = rng.choice(lexicon.MESSAGES)
    form = rng.randrange(3)
    if form == 0:
        phrases = ["send a message to", who, "saying", msg]
    elif form == 1:
        phrases = ["text", who, msg]
    else:
        phrases = ["tell", who, msg]
    return Request(phrases, "send_message", {"contact": who, "message": msg}, names)


def _device_power(rng: random.Random, pool: NamePool) -> Request:
    device = rng.choice(pool.devices)
    room = rng.choice(lexicon.ROOMS) if rng.random() < 0.5 else ""
    state = rng.choice(["on", "off"])
    target = f"{room} {device}".strip()
    form = rng.randrange(3)
    if form == 0:
        phrases = [f"turn {state} the", target]
    elif form == 1:
        phrases = [f"switch {state} the", target]
    else:
        phrases = ["turn the", target, state]
    slots = {"device": device, "state": state} | ({"room": room} if room else {})
    return Request(phrases, "device_power", slots, device.split())


def _device_level(rng: random.Random, pool: NamePool) -> Request:
    if rng.random() < 0.3:
        degrees = rng.randrange(15, 30)
        return Request(
            ["set the thermostat to", f"{number_words(degrees)} degrees"],
            "set_temperature",
            {"temperature": number_words(degrees)},
        )
    device = rng.choice(pool.devices)
    level = rng.choice([10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100])
    phrases = [rng.choice(["set the", "dim the", "set the"]), device, f"to {number_words(level)} percent"]
    return Request(phrases, "device_level", {"device": device, "level": number_words(level)}, device.split())


def _music(rng: random.Random, pool: NamePool) -> Request:
    form = rng.randrange(4)
    if form == 0:
        song = rng.choice(lexicon.SONGS)
        artist = rng.choice(lexicon.ARTISTS)
        return Request(["play", song, "by", artist], "play_music", {"song": song, "artist": artist})
    if form == 1:
        artist = rng.choice(lexicon.ARTISTS)
        return Request(["play some", artist], "play_music", {"artist": artist})
    if form == 2:
        genre = rng.choice(lexicon.GENRES)
        return Request(["play", genre], "play_music", {"genre": genre})
    return Request([rng.choice(["pause the music", "skip this song", "turn the volume up", "stop"])], "music_control")


def _timer(rng: random.Random, pool: NamePool) -> Request:
    form = rng.randrange(4)
    if form == 0:
        n = rng.choice([1, 2, 3, 5, 10, 12, 15, 20, 25, 30, 45, 90])
        unit = rng.choice(["minutes", "seconds", "hours"]) if n > 1 else rng.choice(["minute", "hour"])
        duration = f"{number_words(n)} {unit}"
        return Request(["set a timer for", duration], "set_timer", {"duration": duration})
    if form == 1:
        hour = rng.randrange(1, 13)
        minute = rng.choice([0, 15, 30, 45, 5, 10])
        when = number_words(hour) + ("" if minute == 0 else " " + number_words(minute))
        when += " " + rng.choice(["am", "pm", "in the morning", "tonight"])
        return Request(["set an alarm for", when], "set_alarm", {"time": when})
    if form == 2:
        return Request([rng.choice(["cancel the timer", "stop the alarm", "how much time is left"])], "timer_control")
    n = rng.randrange(2, 60)
    return Request(
        ["remind me in", f"{number_words(n)} minutes", "to check the oven"],
        "set_reminder",
        {"duration": f"{number_words(n)} minutes"},
    )


def _weather(rng: random.Random, pool: NamePool) -> Request:
    city = rng.choice(lexicon.CITIES)
    when = rng.choice(["", "", "today", "tomorrow", "this weekend", "on monday"])
    form = rng.randrange(3)
    if form == 0:
        phrases = ["what is the weather in", city] + ([when] if when else [])
    elif form == 1:
        phrases = ["will it rain in", city] + ([when] if when else [])
    else:
        phrases = ["how cold is it in", city]
        when = ""  # this form names no day
    slots = {"city": city} | ({"date": when} if when else {})
    return Request(phrases, "weather", slots)


def _shopping(rng: random.Random, pool: NamePool) -> Request:
    item = rng.choice(lexicon.ITEMS)
    form = rng.randrange(3)
    if form == 0:
        phrases = ["add", item, "to my shopping list"]
    elif form == 1:
        phrases = ["put", item, "on the list"]
    else:
        phrases = ["remove", item, "from my shopping list"]
    return Request(phrases, "shopping_list", {"item": item, "action": "remove" if form == 2 else "add"})


def _question(rng: random.Random, pool: NamePool) -> Request:
    q = rng.choice(lexicon.QUESTIONS).strip()
    return Request([q], "question", {"question": q})


def _follow_up(rng: random.Random, pool: NamePool) -> Request:
    form = rng.randrange(3)
    if form == 0:
        choice = rng.choice(["the first one", "the second one", "the third one", "the last one"])
        return Request([choice], "select", {"choice": choice})
    if form == 1:
        last = rng.choice(pool.last_names)
        return Request([last], "select", {"choice": last}, [last])
    answer = rng.choice(["yes", "no", "yes please", "no thanks", "cancel"])
    return Request([answer], "confirm", {"answer": answer})


INTENTS: dict[str, tuple[float, Callable[[random.Random, NamePool], Request]]] = {
    "call": (3.0, _call),
    "send_message": (1.5, _message),
    "device_power": (2.5, _device_power),
    "device_level": (1.0, _device_level),
    "play_music": (1.5, _music),
    "timer": (1.5, _timer),
    "weather": (1.5, _weather),
    "shopping_list": (1.0, _shopping),
    "question": (1.0, _question),
    "follow_up": (1.0, _follow_up),
}


def request(rng: random.Random, pool: NamePool) -> Request:
    """One random request, drawn with the intent weights above."""
    kinds = list(INTENTS)
    weights = [INTENTS[k][0] for k in kinds]
    return INTENTS[rng.choices(kinds, weights)[0]][1](rng, pool)


def lookalike(rng: random.Random) -> Request:
    """A negative that sounds like the wake word, alone or inside a sentence."""
    word = rng.choice(lexicon.LOOKALIKES)
    form = rng.randrange(3)
    if form == 0:
        return Request([word], "none")
    if form == 1:
        return Request(
            [word, rng.choice(["is parked outside", "was on the news", "sounds nice", "came yesterday"])], "none"
        )
    return Request([rng.choice(["i saw", "we talked about", "she mentioned"]), word], "none")


def general_speech(rng: random.Random) -> Request:
    return Request([rng.choice(lexicon.GENERAL_SPEECH)], "none")
