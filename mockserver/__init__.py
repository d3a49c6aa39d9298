"""openai-realtime-mock: a faithful local imitation of ``POST /v1/realtime/client_secrets``.

The public API is what ``__all__`` lists; everything else is private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import create_app
    from .ids import is_mock_secret
    from .serving import server_options
    from .settings import Settings

__all__ = ["Settings", "__version__", "create_app", "is_mock_secret", "server_options"]

#: Where each public name lives. They are imported on first use, so that ``mockserver.cli`` (the
#: ``mockserver`` command) runs before the server's modules are imported and can set the collector
#: aside while they are.
_PUBLIC = {"Settings": ".settings", "create_app": ".app", "is_mock_secret": ".ids", "server_options": ".serving"}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
