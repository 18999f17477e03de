"""``vision-contracts`` / ``python -m vision_contracts.contracts``: ``list`` the operations with contracts, print an
``openapi`` document built from them, ``validate`` a saved response or request. The logic lives in ``_cli``."""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
