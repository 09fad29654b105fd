"""Many ways to say each request, split by phrasing.

Each template is one way of phrasing an intent; `[a|b|]` picks one of its
options (possibly nothing) and `{slot}` takes a value from the split's word
lists. Templates, not only names and voices, are divided between train, dev and
test, so dev and test requests are phrased in ways training never heard
("could you phone ... at work" in test when train only says "call ...").
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

TEMPLATES: dict[str, list[str]] = {
    "call": [
        "call {contact}",
        "[please |]call {contact} [on the mobile|at home|at work|on speaker|]",
        "phone {contact}[ for me|]",
        "ring {contact}[ please|]",
        "dial {contact}['s number|]",
        "give {contact} a [call|ring|buzz]",
        "[can|could] you [call|phone|ring] {contact}[ please|]",
        "i [want|need|would like] to [call|talk to|speak to|speak with] {contact}",
        "get {contact} on the phone",
        "start a [video|voice] call with {contact}",
        "video call {contact}",
        "[please |]connect me [to|with] {contact}",
        "let's [call|ring] {contact}",
        "make a call to {contact}",
        "place a call to {contact}[ on [her|his|their] [cell|mobile|work phone]|]",
        "call {contact} back",
        "return {contact}'s call",
        "[try|try calling] {contact} again",
        "hey [could|can] you get me {contact}",
        "i'd like to phone {contact}[ now|]",
        "could you dial {contact} at [home|work|the office]",
        "put me through to {contact}",
        "set up a call [with|to] {contact}",
        "[quickly |]ring up {contact}",
    ],
    "send_message": [
        "send a message to {contact} saying {body}",
        "text {contact} {body}",
        "tell {contact} {body}",
        "[send|write] {contact} a [text|message|note][ that says|:|] {body}",
        "message {contact} that {body}",
        "let {contact} know [that |]{body}",
        "[can|could] you text {contact} [and say|saying] {body}",
        "send {contact} [an sms|a text message|a whatsapp] [saying|that says] {body}",
        "shoot {contact} a [text|message] [saying|that] {body}",
        "drop {contact} a [line|note] [saying|that] {body}",
        "reply to {contact} [with|saying] {body}",
        "[please |]inform {contact} that {body}",
        "write to {contact} [and say|saying] {body}",
        "compose a message for {contact}: {body}",
        "i want to tell {contact} that {body}",
        "send this to {contact}: {body}",
        "remind {contact} that {body}",
        "pass a message to {contact}: {body}",
        "text [my friend|my colleague|] {contact} and tell them {body}",
        "could you message {contact} to say {body}",
    ],
    "device_power": [
        "turn [on|off] the {target}",
        "switch [on|off] the {target}",
        "turn the {target} [on|off]",
        "[please |][power|shut] [on|off] the {target}",
        "[can|could] you turn [on|off] the {target}[ please|]",
        "i [want|need] the {target} [on|off]",
        "[start|stop] the {target}",
        "[kill|cut] the {target}",
        "[enable|disable] the {target}",
        "put the {target} on",
        "the {target} [on|off] please",
        "make sure the {target} [is|are] [on|off]",
        "would you mind switching [on|off] the {target}",
        "shut the {target} down",
        "fire up the {target}",
        "[activate|deactivate] the {target}",
        "go ahead and turn [on|off] the {target}",
        "[lights on|lights off] in the {room}",
        "get the {target} [going|running]",
        "[please |]turn [on|off] [my|our] {target}",
    ],
    "device_level": [
        "set the {device} to {level} percent",
        "dim the {device} to {level} percent",
        "[turn|bring] the {device} [down|up] to {level} percent",
        "[make|set] the {device} [brighter|dimmer|louder|quieter]",
        "[can|could] you set the {device} [at|to] {level} percent",
        "{device} to {level} percent[ please|]",
        "put the {device} at {level} percent",
        "change the {device} to {level} percent",
        "adjust the {device} to {level} percent",
        "[raise|lower] the {device} [to {level} percent|a bit|a little]",
        "i want the {device} at {level} percent",
        "[increase|decrease] the {device} by {level} percent",
        "take the {device} [down|up] to {level}",
        "run the {device} at {level} percent",
    ],
    "set_temperature": [
        "set the thermostat to {degrees} degrees",
        "[make|set] it {degrees} degrees [in here|in the {room}|]",
        "[turn|put] the heat[ing|] [up|down] to {degrees}",
        "i'd like it [warmer|cooler|to be {degrees} degrees]",
        "change the temperature to {degrees}[ degrees|]",
        "[can|could] you [warm|cool] the {room} to {degrees} degrees",
        "thermostat {degrees} degrees",
        "heat the house to {degrees} degrees",
        "[raise|lower] the temperature [to {degrees}|by {small} degrees]",
        "keep the {room} at {degrees} degrees",
        "it's too [cold|hot] in here",
        "set the heating to {degrees} degrees[ tonight|]",
    ],
    "play_music": [
        "play {song} by {artist}",
        "play [some |]{artist}",
        "play {genre}",
        "[put on|throw on] [some |]{genre}",
        "i [want|would like] to [hear|listen to] {artist}",
        "[can|could] you play {song}[ by {artist}|]",
        "play [the song |the track |]{song}",
        "let's [hear|listen to] some {genre}",
        "shuffle [songs by |]{artist}",
        "play [the latest|the new|the best] [album|songs] by {artist}",
        "start playing {song}",
        "queue up {song} by {artist}",
        "play my {genre} playlist",
        "[put on|play] something by {artist}",
        "play the radio station {station}",
        "i'm in the mood for {genre}",
        "play music [by|from] {artist} in the {room}",
        "[resume|start] {genre} in the {room}",
        "find me {song}",
        "play the [album|record] {song}",
    ],
    "music_control": [
        "[pause|stop|resume] the music",
        "skip [this song|this track|to the next one]",
        "[next|previous] [song|track][ please|]",
        "turn the volume [up|down]",
        "[louder|quieter] please",
        "[mute|unmute] the [speaker|music]",
        "go back to the [last|previous] song",
        "what song is this",
        "who sings this[ song|]",
        "play that again",
        "volume [to |]{level} percent",
        "stop playing",
        "[like|dislike] this song",
        "repeat this [song|track]",
    ],
    "set_timer": [
        "set a timer for {duration}",
        "[start|set] a {duration} timer",
        "timer [for |]{duration}",
        "[can|could] you [start|set] a timer for {duration}",
        "count down [from |]{duration}",
        "[remind|tell] me when {duration} [are up|have passed|is up]",
        "time {duration}[ for the eggs| for the pasta|]",
        "i need a timer for {duration}",
        "wake me in {duration}",
        "put a timer on for {duration}",
        "let me know in {duration}",
        "[set|make] a [cooking|pasta|tea] timer for {duration}",
    ],
    "set_alarm": [
        "set an alarm for {time}",
        "wake me up at {time}",
        "[can|could] you wake me [up |]at {time}",
        "alarm [for |at ]{time}[ please|]",
        "i need to get up at {time}",
        "set my alarm to {time}",
        "[create|make] an alarm [for|at] {time}",
        "get me up at {time}[ tomorrow|]",
        "[change|move] my alarm to {time}",
        "set a [wake up|morning] alarm for {time}",
    ],
    "set_reminder": [
        "remind me in {duration} to {task}",
        "remind me to {task}",
        "remind me to {task} at {time}",
        "[can|could] you remind me to {task}[ {day}|]",
        "don't let me forget to {task}",
        "set a reminder to {task}[ {day}|]",
        "i need to {task} {day}, remind me",
        "[make|add] a reminder: {task}",
        "remember to {task} {day}",
        "[create|set] a reminder for {time} to {task}",
        "in {duration} remind me to {task}",
        "put {task} on my to do list",
        "add {task} to my reminders",
        "nudge me to {task} in {duration}",
    ],
    "timer_control": [
        "[cancel|stop|delete] the [timer|alarm]",
        "how much time is left[ on the timer|]",
        "[snooze|turn off] the alarm",
        "[pause|resume] the timer",
        "what alarms do i have[ set|]",
        "is my alarm set[ for tomorrow|]",
        "how long until the timer [goes off|ends]",
    ],
    "weather": [
        "what is the weather in {city}[ {day}|]",
        "will it rain in {city}[ {day}|]",
        "how cold is it in {city}",
        "what's the [weather|forecast] [like |]{day}",
        "[do|will] i need [an umbrella|a coat|sunscreen] {day}",
        "[is it|will it be] [sunny|windy|cold|warm|snowing|raining] in {city}[ {day}|]",
        "what's the temperature [in|outside in] {city}",
        "give me the forecast for {city}",
        "how [hot|warm|cold] will it be {day}",
        "[tell me|what is] the weather [for|in] {city} {day}",
        "is it going to [rain|snow|storm] {day}",
        "weather [in |for ]{city}",
        "what should i wear in {city} {day}",
        "how's the weather looking in {city}",
        "any chance of [rain|snow|thunder] in {city} {day}",
        "what's the high [in {city}|] {day}",
    ],
    "shopping_list": [
        "add {item} to my shopping list",
        "put {item} on the list",
        "remove {item} from my shopping list",
        "[we need|we're out of|i need] {item}",
        "add {item} [and {item2} |]to the [grocery|shopping] list",
        "[take|cross] {item} off the list",
        "put {item} on my [grocery|shopping] list",
        "[can|could] you add {item} to my list",
        "don't forget [to buy |]{item}",
        "[buy|order] [some |more |]{item}",
        "is {item} on my list",
        "i [used up|finished] the {item}",
        "[note|write down] {item} for the [shop|store]",
        "we're running low on {item}",
        "delete {item} from the [list|shopping list]",
    ],
    "question": [
        "{question}",
        "[tell me|do you know] {question}",
        "[hey |]i was wondering {question}",
        "[quick question|question], {question}",
        "[can|could] you [tell me|find out] {question}",
        "[look up|search for] {topic}",
        "what is {topic}",
        "who is {artist}",
        "how far is it to {city}",
        "what time is it in {city}",
        "[how do you spell|spell] {word}",
        "what does {word} mean",
        "define {word}",
        "how many people live in {city}",
        "where is {city}",
        "what's the capital of {country}",
        "tell me about {topic}",
        "[translate|how do you say] {word} in [french|spanish|german|italian]",
    ],
    "follow_up": [
        "[the first one|the second one|the third one|the last one]",
        "{last}",
        "[yes|no|yes please|no thanks|cancel|sure|nope|that's right|never mind]",
        "[the one with|i meant] {last}",
        "{first} {last}",
        "[not that one|the other one]",
        "[call|text] the [first|second|other] one",
        "[yeah|yep|ok|okay] [do it|go ahead|sounds good]",
    ],
}
"""Intent -> its templates; a template's slots are filled by `Filler`."""

SPLIT_SHARES = (("test", 0.15), ("dev", 0.15))
"""Within each intent, templates in hash order: the first 15% are test, the next 15% dev, the rest train."""


def template_split(intent: str, seed: int = 0) -> dict[str, str]:
    """Template -> split, within one intent; at least one template each for dev and test."""
    templates = TEMPLATES[intent]
    order = sorted(templates, key=lambda t: hashlib.sha256(f"{seed}:{intent}:{t}".encode()).digest())
    out, start = {}, 0
    for split, share in SPLIT_SHARES:
        n = max(1, round(share * len(templates)))
        for t in order[start : start + n]:
            out[t] = split
        start += n
    for t in order[start:]:
        out[t] = "train"
    return out


def expand(template: str, rng: random.Random) -> str:
    """Pick one option of every `[a|b|]` group (innermost first)."""
    group = re.compile(r"\[([^\[\]]*)\]")
    while True:
        m = group.search(template)
        if m is None:
            return template
        template = template[: m.start()] + rng.choice(m.group(1).split("|")) + template[m.end() :]


def expansions(template: str) -> set[str]:
    """Every text `expand` can make of `template`."""
    m = re.search(r"\[([^\[\]]*)\]", template)
    if m is None:
        return {template}
    return set().union(*(expansions(template[: m.start()] + o + template[m.end() :]) for o in m.group(1).split("|")))


@functools.cache
def train_skeletons(intent: str, seed: int = 0) -> frozenset[str]:
    """Every phrasing the train templates of `intent` can make: held-out requests must not be among them."""
    train = [t for t, s in template_split(intent, seed).items() if s == "train"]
    return frozenset(_skeleton(e) for t in train for e in expansions(t))


def _skeleton(expanded: str) -> str:
    return " ".join(re.sub(r"[^a-z'{} ]", " ", expanded).split())


@dataclass
class Filled:
    text: str
    intent: str
    template: str
    skeleton: str
    """The text with every slot value replaced by its slot name: the phrasing, whatever the names."""
    slots: dict[str, str] = field(default_factory=dict)


SlotFn = Callable[[random.Random], str]


def fill(template: str, intent: str, slots: dict[str, SlotFn], rng: random.Random) -> Filled:
    """Expand `template` and fill its slots; the slot values are recorded under their names."""
    expanded = expand(template, rng)
    values: dict[str, str] = {}

    def take(m: re.Match) -> str:
        name = m.group(1)
        values[name] = slots[name](rng)
        return values[name]

    text = re.sub(r"\{(\w+)\}", take, expanded)
    text = " ".join(re.sub(r"[^a-z' ]", " ", text).split())
    skeleton = _skeleton(expanded)
    return Filled(text, intent, template, skeleton, values)
