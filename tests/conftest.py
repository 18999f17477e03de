"""Suite-wide settings. Under CI (CI=true) Hypothesis runs derandomized, so a CI verdict does not depend on luck;
locally each run explores new examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
