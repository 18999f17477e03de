"""``vision-mock --intercept``: the mock as an HTTP forward proxy for any process in any language.

``mockserver._intercept_hosts`` (shared with the pytest fixture) decides what a proxied host gets (the mock, a
tunnel, or 403), ``ca`` makes the local certificate authority
(name-constrained to the intercepted hosts) and the per-host leaf certificates, ``proxy`` is the asyncio proxy that
terminates TLS for the intercepted hosts and pipes the decrypted HTTP/1.1 to the mock's own loopback port, and
``env`` prints the shell ``export`` lines that point an unchanged app at it.
"""
