"""Pydantic models at the HTTP edge, named after the OpenAPI components."""

from .requests import RealtimeCreateClientSecretRequest
from .validation import validate_model

__all__ = ["RealtimeCreateClientSecretRequest", "validate_model"]
