"""The vision-contracts mock server: every provider operation of the contracts, served by one FastAPI app.

    >>> from vision_contracts.mockserver import Config, create_app
    >>> app = create_app(Config(seed=1))

Run it with ``python -m vision_contracts.mockserver`` (or ``vision-mock``); in tests,
``vision_contracts.mockserver.testing.serve(config)``.

Decisions worth knowing:

- Hugging Face models answer as their model family (``families.json``, ``--families FILE``): task, default
  subtask and label vocabulary (UperNet/SegFormer: semantic, null scores, ADE20K labels; Mask2Former COCO
  panoptic: panoptic, COCO panoptic labels; DETR: COCO labels). Served: the catalogue's ids and ``--model ID=TASK``
  (the task's default family); any other id gets 404 ``{"error": "Model X does not exist. ..."}`` saying how to
  serve it, as the real API answers a model it does not serve. ``--guess-tasks`` serves other ids whose name
  matches a family's pattern and says so (``x-vision-model-guess`` header, the journal's ``model_family``).
- AI Refinery's ``created`` is ``Config.created`` (``--created``) or the server's start time, so answers stay
  byte-identical for the life of a server; ``usage`` counts 32x32 image tiles, prompt points and masks.
- Responses are cached (LRU, ``--cache-size``) on the validated request as parsed (operation, path, query, body,
  the image's bytes rather than its URL), the credential and the seed; a hit skips generation, never validation.
  Hugging Face's ``x-use-cache: false`` (or the legacy ``options.use_cache: false``) computes afresh. The mock's
  own header ``x-vision-cache: hit|miss`` says which happened.
- Roboflow ``?image=URL``: served from ``--image-dir`` (by basename, real paths inside the folder only) or
  ``--image-url URL=FILE``; remote fetching only with ``--allow-remote-images`` (bounded by ``--remote-max-bytes``
  and ``--remote-timeout``; public addresses only unless ``--allow-private-images``).
- ``POST /authentication/validate`` answers ``{"organization_id": ...}`` because ``AsyncAIRefinery()`` calls it
  on construction; ``/__vision__/`` is reserved for the mock's own endpoints (``GET /__vision__/health``), locked
  by ``--admin-token``, the server's own Host and no cross-origin writes (``_adminauth``).
"""

from ._app import ADMIN_PREFIX, Server, create_app, guess_task
from ._config import DEFAULT_MODELS, PROVIDERS, Config, ConfigError

__all__ = ["ADMIN_PREFIX", "DEFAULT_MODELS", "PROVIDERS", "Config", "ConfigError", "Server", "create_app", "guess_task"]
