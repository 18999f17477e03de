"""Placeholder until the server issue lands."""
import sys


def main() -> int:
    print("vision-mock: the mock server is not built yet; see the issue tracker.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
