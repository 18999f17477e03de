"""``python -m vision_contracts.contracts openapi PROVIDER [--operation OP] [--server URL]``: print an OpenAPI 3.1 document;
``python -m vision_contracts.contracts list``: the operations with contracts."""

from __future__ import annotations

import argparse
import json
import sys

from . import catalog
from ._openapi import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vision_contracts.contracts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    openapi = sub.add_parser("openapi", help="print an OpenAPI 3.1 document built from the contracts")
    openapi.add_argument("providers", nargs="+", help="provider names: " + ", ".join(sorted({p for p, _ in catalog().operations})))
    openapi.add_argument("--operation", action="append", help="only this operation (repeatable)")
    openapi.add_argument("--server", default="http://127.0.0.1:8000", help="the servers[0].url to write")
    sub.add_parser("list", help="list the (provider, operation) pairs")
    args = parser.parse_args(argv)
    if args.command == "list":
        for provider, operation in catalog().operations:
            print(f"{provider} {operation}")
        return 0
    try:
        document = build(args.providers, operations=args.operation, server_url=args.server)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(document, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
