"""openai-realtime-mock: a faithful local imitation of ``POST /v1/realtime/client_secrets``.

The public API is what ``__all__`` lists; everything else is private.
"""

from ._version import __version__
from .app import create_app
from .ids import is_mock_secret
from .serving import server_options
from .settings import Settings

__all__ = ["Settings", "__version__", "create_app", "is_mock_secret", "server_options"]
