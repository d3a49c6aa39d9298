"""Request models for ``POST /v1/realtime/translations/client_secrets``, named after the spec's
``RealtimeTranslation*`` components (and openai-python 3.57's ``realtime_translation_*_param``).

The translation session is small: a model, the source transcription and noise reduction,
and the target language. ``RealtimeTranslationSessionUpdateRequest`` is what a translation
``session.update`` may change (everything but the model).
"""

from __future__ import annotations

from typing import Annotated

from ._base import DecimalRange, OneOf, RequestModel
from .requests import NOISE_REDUCTION_TYPES, ExpiresAfter

__all__ = [
    "RealtimeTranslationClientSecretCreateRequest",
    "RealtimeTranslationSessionCreateRequest",
    "RealtimeTranslationSessionUpdateRequest",
    "TranslationAudio",
]


class TranslationTranscription(RequestModel):
    """Source-language transcription: ``session.input_transcript.delta`` events when set."""

    # Any string: the spec and the SDK type it as a plain string (no enum).
    model: str


class TranslationNoiseReduction(RequestModel):
    # Unlike a realtime session's, the translation schema requires ``type``.
    type: Annotated[str, OneOf(*NOISE_REDUCTION_TYPES)]
    strength: Annotated[float, DecimalRange(0, 1)] | None = None


class TranslationAudioInput(RequestModel):
    _nullable = frozenset({"transcription", "noise_reduction"})

    transcription: TranslationTranscription | None = None
    noise_reduction: TranslationNoiseReduction | None = None


class TranslationAudioOutput(RequestModel):
    language: str | None = None


class TranslationAudio(RequestModel):
    input: TranslationAudioInput | None = None
    output: TranslationAudioOutput | None = None


class RealtimeTranslationSessionCreateRequest(RequestModel):
    # Any string: "The Realtime translation model used for this session" (no enum in spec or SDK).
    model: str
    audio: TranslationAudio | None = None


class RealtimeTranslationSessionUpdateRequest(RequestModel):
    """What ``session.update`` may change on a translation session (``model`` is fixed)."""

    audio: TranslationAudio | None = None


class RealtimeTranslationClientSecretCreateRequest(RequestModel):
    expires_after: ExpiresAfter | None = None
    # Required here (unlike the realtime endpoint's optional session).
    session: RealtimeTranslationSessionCreateRequest
