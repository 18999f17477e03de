"""``vision-mock env``: the ``export`` lines that send an unchanged app's traffic through ``vision-mock --intercept``.

``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` point at ``bundle.pem``: the system's CAs plus ours.
For Python's ssl, requests and curl these variables *replace* the trusted store, so our CA alone would break every
HTTPS call the proxy tunnels (``--passthrough`` hosts, loopback servers with real certificates); with the bundle
they verify exactly as before, and our CA can vouch only for the intercepted hosts (its name constraints).
``NODE_EXTRA_CA_CERTS`` *adds* to Node's store, so it names ``ca.pem`` alone.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from .._intercept_hosts import intercepted_hosts
from .ca import Authority
from .service import ca_folder

__all__ = ["env_lines", "env_main"]

NO_PROXY = "localhost,127.0.0.1,::1"


def env_lines(port: int, intercept_port: int | None, ca_dir: str | None, host: str = "127.0.0.1") -> list[str]:
    """The shell lines (the CA made on first use, its bundle written)."""
    authority = Authority(ca_folder(ca_dir), intercepted_hosts())
    bundle = str(authority.ensure_bundle())
    proxy = f"http://{host}:{intercept_port if intercept_port is not None else port + 1}"
    values = {
        "HTTPS_PROXY": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy, "http_proxy": proxy,
        "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
        "SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "CURL_CA_BUNDLE": bundle,
        "NODE_EXTRA_CA_CERTS": str(authority.cert_path),
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def env_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="vision-mock env",
                                     description="Print the export lines that route an unchanged app through vision-mock --intercept: "
                                                 'eval "$(vision-mock env)"; python app.py')
    parser.add_argument("--host", default="127.0.0.1", help="the mock's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the mock's port (default 8000)")
    parser.add_argument("--intercept-port", type=int, help="the proxy's port (default: --port + 1)")
    parser.add_argument("--ca-dir", metavar="DIR", help="the CA's folder, as given to the server")
    args = parser.parse_args(argv)
    sys.stdout.write("\n".join(env_lines(args.port, args.intercept_port, args.ca_dir, args.host)) + "\n")
    sys.stdout.flush()
    return 0
