"""The local certificate authority of ``vision-mock --intercept``, made with ``cryptography``.

The CA is generated on first use in a folder (``--ca-dir``, default ``$XDG_DATA_HOME/vision-contracts/ca`` or
``~/.local/share/vision-contracts/ca``): ``ca.pem`` (the public certificate), ``ca-key.pem`` (its private key, mode
0600, the folder 0700; never logged, journaled or recorded) and ``bundle.pem`` (the system's CAs plus this one, what
``SSL_CERT_FILE`` points at). Its X.509 NameConstraints extension is critical and permits only the intercepted DNS
names (and excludes every IP address), so a leaked CA cannot vouch for any other site: a leaf it signs for another
name fails verification in every client that checks constraints (OpenSSL, Go, browsers, Node).

Leaf certificates (one per host, SubjectAltName = the host, ExtendedKeyUsage serverAuth) are made in memory on
first use and kept for the life of the ``Authority``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if sys.platform != "win32":
    import fcntl

__all__ = ["Authority", "default_ca_dir", "system_ca_file"]

CA_NAME = "vision-mock intercept CA"
CA_DAYS = 3650
LEAF_DAYS = 825


def default_ca_dir() -> Path:
    """``$XDG_DATA_HOME/vision-contracts/ca``, or ``~/.local/share/vision-contracts/ca``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vision-contracts" / "ca"


def system_ca_file() -> Path | None:
    """The system's CA bundle as OpenSSL finds it (``SSL_CERT_FILE`` left aside, since we set it), else certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _lock(file: IO[str]) -> None:
    """An exclusive lock on an open file, so two processes making the CA at once agree on one (POSIX; elsewhere the
    last writer's CA wins, whole, as each file is replaced atomically)."""
    if sys.platform != "win32":
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_ca(hosts: Iterable[str]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vision-contracts")])
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(h) for h in sorted(set(hosts))],
        excluded_subtrees=[x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")), x509.IPAddress(ipaddress.ip_network("::/0"))],
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


class Authority:
    """The CA kept in ``folder`` (made there on first use, under a file lock so two processes agree) and the leaf
    certificates it signs."""

    def __init__(self, folder: Path, hosts: Iterable[str]):
        self.folder = Path(folder)
        self.hosts = tuple(sorted(set(hosts)))
        self.key, self.cert = self._load_or_create()
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def cert_path(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def key_path(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def bundle_path(self) -> Path:
        return self.folder / "bundle.pem"

    def cert_pem(self) -> bytes:
        """The CA certificate (public part only) as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _load_or_create(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / ".lock", "a") as lock:
            _lock(lock)
            if self.key_path.exists() and self.cert_path.exists():
                key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise ValueError(f"{self.key_path} does not hold the EC key vision-mock writes; remove the folder to start anew.")
                cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
                if self._covers(cert):
                    return key, cert
            key, cert = _make_ca(self.hosts)
            _write_atomic(self.key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()), 0o600)
            _write_atomic(self.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            self._write_bundle(cert.public_bytes(serialization.Encoding.PEM))
            return key, cert

    def _covers(self, cert: x509.Certificate) -> bool:
        """True when a stored CA permits every intercepted host and is still valid for a year (else it is remade)."""
        try:
            permitted = cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees or []
        except x509.ExtensionNotFound:
            return False
        names = {n.value for n in permitted if isinstance(n, x509.DNSName)}
        return set(self.hosts) <= names and cert.not_valid_after_utc > _now() + datetime.timedelta(days=365)

    def _write_bundle(self, ours: bytes) -> None:
        system = system_ca_file()
        body = system.read_bytes().rstrip(b"\n") + b"\n" if system else b""
        _write_atomic(self.bundle_path, body + ours, 0o644)

    def ensure_bundle(self) -> Path:
        """``bundle.pem``, written again when missing."""
        if not self.bundle_path.exists():
            self._write_bundle(self.cert_pem())
        return self.bundle_path

    def leaf(self, host: str) -> x509.Certificate:
        """A leaf for ``host`` signed by this CA (any name: the CA's constraints decide whether it is believed)."""
        now = _now()
        public = self._leaf_key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).issuer_name(self.cert.subject)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting ``host``'s leaf certificate (made once per host, then cached)."""
        context = self._contexts.get(host)
        if context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_alpn_protocols(["http/1.1"])
            with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only; the key never leaves tmp
                chain = Path(tmp) / "leaf.pem"
                fd = os.open(chain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(self._leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
                    out.write(self.leaf(host).public_bytes(serialization.Encoding.PEM))
                context.load_cert_chain(chain)
            self._contexts[host] = context
        return context
