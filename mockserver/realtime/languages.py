"""What the mock interpreter says: a deterministic "translation" of each utterance into the output language.

Nothing is really translated. An utterance of N words becomes a sentence of N generated words in the
target language, when Faker has words for it (its ``lorem`` provider has a word list for that locale:
``fr`` -> ``fr_FR``, ``de`` -> ``de_DE``, ``es`` -> ``es_ES``, ``ja`` -> ``ja_JP``, ``zh`` -> ``zh_CN``, ``fr-CA``
-> ``fr_FR``...; :func:`faker_locale`). For any other language the sentence is English words marked with
the language asked for, ``[pt] Lorem ipsum dolor.``: a pseudo-translation that says what it is.

Each sentence comes as :class:`Words`: the pieces to stream as append-only transcript deltas (with the
spaces the language puts between words, and between sentences) and the text to synthesize speech from,
one spoken word per piece.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .text import lorem_words

__all__ = ["DEFAULT_LANGUAGE", "PSEUDO_LOCALE", "Interpreter", "Words", "faker_locale", "lorem_locales"]

#: The language a session with no output language (``null``) is interpreted into.
DEFAULT_LANGUAGE = "en"
#: Whose words a pseudo-translation uses.
PSEUDO_LOCALE = "en_US"
#: The region whose words a bare language code gets when Faker has several and none is ``xx_XX``.
_PREFERRED = {"en": "en_US", "zh": "zh_CN", "tl": "tl_PH"}
#: Longest language tag shown in a pseudo-translation's marker.
_MARKER_MAX = 35


@cache
def lorem_locales() -> frozenset[str]:
    """The locales Faker has its own words for (a ``faker.providers.lorem`` module each)."""
    package = importlib.import_module("faker.providers.lorem")
    return frozenset(module.name for module in pkgutil.iter_modules(package.__path__))


def faker_locale(language: str) -> str | None:
    """The Faker locale whose words stand for ``language`` (``fr``, ``fr-CA``, ``pt_BR``...), or ``None``."""
    tag = language.strip().replace("-", "_")
    lang, _, region = tag.partition("_")
    lang = lang.lower()
    if not lang.isalpha():
        return None
    available = lorem_locales()
    candidates = [f"{lang}_{region.upper()}"] if region else []
    candidates += [_PREFERRED.get(lang, ""), f"{lang}_{lang.upper()}", lang]
    candidates += sorted(locale for locale in available if locale.startswith(lang + "_"))
    return next((locale for locale in candidates if locale in available), None)


@dataclass(frozen=True)
class Words:
    """A generated sentence: its transcript deltas, and what to speak for each of them."""

    deltas: tuple[str, ...]
    spoken: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def speech_text(self) -> str:
        """The text to synthesize: one whitespace-separated token per delta."""
        return " ".join(self.spoken)


@dataclass
class Interpreter:
    """Generated sentences per target language, seeded: a seeded server says the same on the same connection."""

    seed: int
    #: Each locale's random source on this connection (the words come from the thread's generators).
    _randoms: dict[str, random.Random] = field(default_factory=dict, init=False)

    def sentence(self, language: str | None, words: int, *, first: bool) -> Words:
        """``words`` generated words in ``language`` (``None``: the default); ``first``: no space before it."""
        language = language if language is not None else DEFAULT_LANGUAGE
        count = max(1, words)
        locale = faker_locale(language)
        fake = self._faker(locale or PSEUDO_LOCALE)
        lorem = _lorem_provider(fake)
        chosen = _single_words(fake, count)
        connector = str(lorem.word_connector)
        marker = "" if locale is not None else f"[{_marker(language)}] "
        lead = "" if first or not connector else connector
        deltas = [lead + marker + chosen[0][:1].upper() + chosen[0][1:], *(connector + word for word in chosen[1:])]
        deltas[-1] += str(lorem.sentence_punctuation)
        return Words(tuple(deltas), tuple(chosen))

    def _faker(self, locale: str) -> Any:
        """``locale``'s word generator, drawing from this connection's source for that locale (seeded as
        ``Faker(locale).seed_instance(...)`` would seed it, so the words are those a Faker of its own gives)."""
        source = self._randoms.get(locale)
        if source is None:
            source = self._randoms[locale] = random.Random(random.Random(f"{self.seed}:{locale}").getrandbits(32))
        fake = lorem_words(locale)
        fake.random = source
        return fake


def _single_words(fake: Any, count: int) -> list[str]:
    """``count`` words of ``fake``'s locale, each one token (entries such as "parce que" are skipped)."""
    chosen: list[str] = []
    while len(chosen) < count:
        word = str(fake.word())
        if word and len(word.split()) == 1 and word.split()[0] == word:
            chosen.append(word)
    return chosen


def _marker(language: str) -> str:
    """The language as a pseudo-translation names it: no whitespace, bounded."""
    return "-".join(language.split())[:_MARKER_MAX] or "?"


def _lorem_provider(fake: Any) -> Any:
    from faker.providers.lorem import Provider  # noqa: PLC0415 - Faker is imported on first use only

    return next(provider for provider in fake.get_providers() if isinstance(provider, Provider))
