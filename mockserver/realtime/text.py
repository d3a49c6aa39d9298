"""Pure text helpers of the Realtime session: what the "model" says, how it is streamed, what it costs.

- :class:`Phrases`: generated sentences and transcripts (one word generator per thread, a random source per connection).
- :func:`lorem_words`: that generator: Faker's ``lorem`` provider alone, for one locale.
- :func:`deltas`: a text split into the append-only deltas production streams (one per word, spaces kept).
- :func:`arguments_for`: plausible function-call arguments from a tool's JSON Schema ``parameters``.
- :func:`text_tokens`: the token count the mock bills for a text.
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "WORDS_PER_SECOND_OF_SPEECH",
    "Phrases",
    "argument_deltas",
    "arguments_for",
    "deltas",
    "dump_arguments",
    "lorem_words",
    "obfuscation",
    "text_tokens",
]

#: How fast the mock's users "speak" when a transcript is generated from the length of their audio.
WORDS_PER_SECOND_OF_SPEECH = 2.5
_ALNUM = string.ascii_letters + string.digits
_TOKEN = re.compile(r"\w+|[^\w\s]")


def deltas(text: str) -> list[str]:
    """``"Hi there, friend!"`` -> ``["Hi", " there,", " friend!"]``: joined, they give back ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return [text] if text else []
    trailing = text[len("".join(pieces)) :]
    if trailing:
        pieces[-1] += trailing
    return pieces


def text_tokens(text: str) -> int:
    """Tokens billed for ``text``: one per word and one per punctuation mark (a rough tokenizer)."""
    return len(_TOKEN.findall(text))


def obfuscation(rng: random.Random) -> str:
    """The random padding GA adds to text deltas (11-14 alphanumerics, SESSION_TRUTH §1)."""
    return "".join(rng.choices(_ALNUM, k=rng.randint(11, 14)))


def argument_deltas(arguments: str, size: int = 8) -> list[str]:
    """A function call's JSON arguments in token-sized pieces, as they are streamed."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


#: Word generators by locale, one set per thread (a mock on a background thread and one on the test's loop
#: never draw from the same generator, whose random source is swapped for each connection's before a draw).
_LOREM = threading.local()
#: The only provider a generated word or sentence needs.
_LOREM_PROVIDER = "faker.providers.lorem"


_IMPORT_LOCK = threading.Lock()
_importer: threading.Thread | None = None


def import_faker_soon() -> None:
    """Start importing Faker on a thread of its own, once per process, unless it is imported already.

    A session's first words need Faker, whose import takes ~50 ms (it scans its providers and locales). On the
    event loop that is ~50 ms in which no other request or session is served, once per process and usually in
    the middle of a load. A connection starts it when it opens, seconds before its first reply as a rule; the
    loop then only waits if a reply comes sooner, and then for the rest of that one import (the import lock).
    The thread is not a daemon: a process that ends at once waits for the import rather than cutting it short.
    """
    global _importer
    if _importer is not None or "faker" in sys.modules:
        return
    with _IMPORT_LOCK:
        if _importer is None:
            _importer = threading.Thread(target=_import_faker, name="mockserver-import-faker")
            _importer.start()


def _import_faker() -> None:
    try:
        import faker  # noqa: F401, PLC0415 - the point of the thread
    except Exception:  # reported where the words are drawn, by the loop's own import
        return


def lorem_words(locale: str = "en_US") -> Any:
    """Faker's word generator for ``locale``: a ``faker.Generator`` with the ``lorem`` provider only, made once
    per thread and locale.

    A full ``Faker(locale)`` builds some 25 providers (~30 ms and ~100 KB) where words need one; both draw the
    same words from the same random source (``word``, ``sentence``: only ``lorem`` has them). Callers set
    ``random`` to their own source before drawing: sessions take turns on one event loop and a draw never
    awaits, so no other session draws in between.
    """
    generators: dict[str, Any] | None = getattr(_LOREM, "generators", None)
    if generators is None:
        generators = _LOREM.generators = {}
    generator = generators.get(locale)
    if generator is None:
        from faker import Factory  # noqa: PLC0415 - slow to import; only a session that needs words pays

        generator = generators[locale] = Factory.create(locale, providers=[_LOREM_PROVIDER])
    return generator


class Phrases:
    """Generated sentences, seeded so that a seeded server says the same things on the same connection."""

    def __init__(self, seed: int, connection: int) -> None:
        self._seed = random.Random(f"{seed}:replies:{connection}").getrandbits(32)
        self._random: random.Random | None = None
        import_faker_soon()

    def _faker(self) -> Any:
        """The thread's English word generator, drawing from this connection's own random source (what
        ``seed_instance`` would make)."""
        if self._random is None:
            self._random = random.Random(self._seed)
        fake = lorem_words()
        fake.random = self._random
        return fake

    def reply(self) -> str:
        """What the assistant says when nothing was scripted: one short sentence."""
        return str(self._faker().sentence(nb_words=9))

    def transcript(self, speech_ms: float) -> str:
        """What a user "said" in ``speech_ms`` of audio, when nothing was scripted (about 2.5 words a second)."""
        words = max(1, round(speech_ms / 1000 * WORDS_PER_SECOND_OF_SPEECH))
        return str(self._faker().sentence(nb_words=words, variable_nb_words=False))

    def word(self) -> str:
        return str(self._faker().word())


def arguments_for(parameters: Mapping[str, Any] | None, phrases: Phrases, rng: random.Random) -> dict[str, Any]:
    """Arguments that satisfy a tool's ``parameters`` schema well enough for a client to parse them.

    Required properties are always filled, optional ones too (a model usually fills what it can);
    ``enum``, ``const`` and ``default`` are honoured, numbers respect ``minimum``/``maximum``.
    """
    if not isinstance(parameters, Mapping):
        return {}
    value = _value_for(parameters, phrases, rng, depth=0)
    return value if isinstance(value, dict) else {}


def _value_for(schema: Any, phrases: Phrases, rng: random.Random, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _value_for(schema[key][0], phrases, rng, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), Mapping)):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {str(name): _value_for(sub, phrases, rng, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        item = _value_for(schema.get("items"), phrases, rng, depth + 1)
        count = schema.get("minItems")
        count = count if isinstance(count, int) else 1
        return [item for _ in range(max(1, min(count, 3)))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 1)
        high = schema.get("maximum", max(low, 10) if isinstance(low, int | float) else 10)
        if not isinstance(low, int | float) or not isinstance(high, int | float) or high < low:
            return 1
        number = rng.uniform(float(low), float(high))
        return round(number) if kind == "integer" else round(number, 2)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return phrases.word()


def dump_arguments(arguments: Mapping[str, Any] | str) -> str:
    """Arguments as the JSON string production sends (compact, as models emit it)."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
