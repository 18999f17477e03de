"""The vision-contracts mock server: every provider operation of the contracts, served by one FastAPI app.

    >>> from mockserver import Config, create_app
    >>> app = create_app(Config(seed=1))

Run it with ``python -m mockserver`` (or ``vision-mock``); in tests, ``mockserver.testing.serve(config)``.
"""

from ._app import ADMIN_PREFIX, Server, create_app, guess_task
from ._config import Config, ConfigError, DEFAULT_MODELS, PROVIDERS

__all__ = ["ADMIN_PREFIX", "Config", "ConfigError", "DEFAULT_MODELS", "PROVIDERS", "Server", "create_app", "guess_task"]
