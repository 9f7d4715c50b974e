"""Fetch metadata over HTTP(S) without becoming a way into our own network.

The host is resolved once and every address it resolves to is checked: private, loopback,
link-local and reserved addresses are refused unless METADATA_FETCH_ALLOW_PRIVATE is set,
multicast and unspecified ones always. The connection then goes to the checked address itself, so DNS cannot answer
differently between the check and the connect (rebinding); HTTPS still verifies the server's
certificate against the host name. Redirects are followed (at most three, never from https to
http), each checked the same way. One deadline bounds the whole fetch and a byte cap bounds
what we read; the body is spooled to a temporary file, so a large aggregate is not held in memory.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from sp import errors

MAX_REDIRECTS = 3
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Policy:
    """What a fetch may do: reach private addresses, take how long, read how much."""

    allow_private: bool
    timeout: float
    max_bytes: int

    @classmethod
    def from_config(cls, config: Any, max_bytes: int) -> Policy:
        return cls(
            allow_private=bool(config.get("METADATA_FETCH_ALLOW_PRIVATE")),
            timeout=float(config.get("METADATA_FETCH_TIMEOUT_SECONDS") or 30),
            max_bytes=max_bytes,
        )


def check_url(url: str) -> None:
    """Refuse URLs we never fetch: not http(s), no host, credentials in the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.FetchRefused(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise errors.FetchRefused("the URL carries credentials; metadata URLs must be public")


def redirect_target(current: str, location: str | None) -> str:
    """Where a redirect from current leads, if we may follow it: an http(s) URL, never https to http."""
    if not location:
        raise errors.FetchFailed(f"{current} redirects without a Location")
    target = urljoin(current, location.strip())
    check_url(target)
    if current.startswith("https://") and not target.startswith("https://"):
        raise errors.FetchRefused(f"{current} redirects from https to plain http ({target})")
    return target


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    """Why we will not connect to address, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _refusal(embedded, allow_private)
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if not allow_private and (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or not address.is_global
    ):
        return "a private, loopback, link-local or reserved address"
    return None


def _resolve(host: str, port: int, policy: Policy) -> str:
    """The address to connect to: every address host resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise errors.FetchFailed(f"cannot resolve {host}: {getattr(error, 'strerror', None) or error}") from None
    # An AF_INET or AF_INET6 sockaddr starts with the address as a string.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for text in addresses:
        why = _refusal(ipaddress.ip_address(text.split("%", 1)[0]), policy.allow_private)
        if why:
            raise errors.FetchRefused(
                f"{host} resolves to {text}, {why}; metadata is fetched only from public addresses "
                "(METADATA_FETCH_ALLOW_PRIVATE allows others)"
            )
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an address we checked, whatever DNS says now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to an address we checked, verifying the certificate for the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _get(url: str, policy: Policy, deadline: float) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname
    if not host:  # check_url passed every URL we get, so this never happens
        raise errors.FetchRefused(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if https else 80)
    address = _resolve(host, port, policy)
    remaining = max(0.1, deadline - time.monotonic())
    connection_class = _PinnedHTTPS if https else _PinnedHTTP
    connection = connection_class(host, port, address, remaining)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "GET",
            path,
            headers={
                "Accept": "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8",
                "Accept-Encoding": "identity",
                "User-Agent": "saml-sp-metadata-refresh",
            },
        )
        return connection, connection.getresponse()
    except BaseException:
        connection.close()
        raise


def fetch(url: str, policy: Policy) -> IO[bytes]:
    """GET url under policy; return the body as a file positioned at its start (the caller closes it)."""
    check_url(url)
    deadline = time.monotonic() + policy.timeout
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            connection, response = _get(current, policy, deadline)
            try:
                if response.status in (301, 302, 303, 307, 308):
                    current = redirect_target(current, response.getheader("Location"))
                    continue
                if response.status != 200:
                    raise errors.FetchFailed(f"{current} answered HTTP {response.status} {response.reason}")
                return _read_body(response, connection, policy, deadline)
            finally:
                response.close()
                connection.close()
        raise errors.FetchFailed(f"{url} redirects more than {MAX_REDIRECTS} times")
    except TimeoutError:
        raise errors.FetchFailed(f"fetching {current} took longer than {policy.timeout:g} s") from None
    except ssl.SSLError as error:
        raise errors.FetchFailed(f"TLS with {urlsplit(current).hostname} failed: {error.reason or error}") from None
    except (OSError, http.client.HTTPException) as error:
        raise errors.FetchFailed(f"fetching {current} failed: {error or type(error).__name__}") from None


def _read_body(
    response: http.client.HTTPResponse, connection: http.client.HTTPConnection, policy: Policy, deadline: float
) -> IO[bytes]:
    encoding = (response.getheader("Content-Encoding") or "identity").lower()
    if encoding != "identity":
        raise errors.FetchFailed(f"the server sent a {encoding}-encoded body; we ask for and accept only identity")
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise errors.MetadataTooLarge(
            f"the metadata is larger than the {policy.max_bytes:,} bytes we accept (Content-Length: {int(length):,})"
        )
    body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115  (the caller closes it)
    total = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            chunk = response.read(65536)
            if not chunk:
                break
            total += len(chunk)
            if total > policy.max_bytes:
                raise errors.MetadataTooLarge(f"the metadata is larger than the {policy.max_bytes:,} bytes we accept")
            body.write(chunk)
    except BaseException:
        body.close()
        raise
    body.seek(0)
    return body
