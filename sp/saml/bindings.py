"""Read a SAML message off the HTTP-Redirect or HTTP-POST binding, before any XML parser sees it.

Sizes are capped before anything is decoded. A Redirect-binding message is inflated here, with a
bound: python3-saml's decode_base64_and_inflate has none, and a few kilobytes of DEFLATE can
inflate to gigabytes. The query string is read once, by us, from the raw bytes the browser sent:
each parameter we act on must appear exactly once and unencoded in its name, so what python3-saml
verifies the signature over (the raw query) is exactly what we decode and act on.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from sp import errors

REDIRECT = "redirect"
POST = "post"
MESSAGES = ("SAMLRequest", "SAMLResponse")
_PARAMETERS = frozenset({*MESSAGES, "RelayState", "SigAlg", "Signature"})
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# SAML says 80 bytes; real IdPs send whole URLs. We only ever echo it back to the IdP.
MAX_RELAY_STATE = 2048
# An RSA-16384 signature is 2,732 base64 characters.
MAX_SIGNATURE = 4096


@dataclass(frozen=True)
class Incoming:
    """One message as the binding delivered it, decoded but not parsed."""

    binding: str  # redirect | post
    kind: str  # SAMLRequest | SAMLResponse
    xml: bytes
    relay_state: str | None
    # HTTP-Redirect only: the message as sent (base64), the query signature, and the raw query
    # python3-saml verifies that signature over.
    encoded: str | None = None
    sig_alg: str | None = None
    signature: str | None = None
    query_string: str | None = None

    def parameters(self) -> dict[str, str]:
        """The decoded query parameters, as python3-saml's get_data (none for the POST binding)."""
        if self.binding != REDIRECT:
            return {}
        found = {
            self.kind: self.encoded,
            "RelayState": self.relay_state,
            "SigAlg": self.sig_alg,
            "Signature": self.signature,
        }
        return {name: value for name, value in found.items() if value is not None}


def strict_base64(value: str, what: str) -> bytes:
    compact = "".join(value.split())
    if len(compact) % 4 or not _BASE64.match(compact):
        raise errors.MalformedMessage(f"the {what} is not valid base64")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise errors.MalformedMessage(f"the {what} is not valid base64") from None


def inflate(data: bytes, max_bytes: int) -> bytes:
    """Inflate raw DEFLATE, refusing more than max_bytes of output (deflate bombs) and any trailing junk."""
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    try:
        output = inflater.decompress(data, max_bytes + 1)
    except zlib.error:
        raise errors.MalformedMessage("the message is not valid raw DEFLATE data (HTTP-Redirect binding)") from None
    if len(output) > max_bytes or inflater.unconsumed_tail:
        raise errors.MessageTooLarge(f"the message inflates to more than the {max_bytes} bytes we accept")
    if not inflater.eof or inflater.unused_data:
        raise errors.MalformedMessage("the DEFLATE data is truncated or followed by other bytes")
    return output


def _pick_message(found: Mapping[str, str]) -> str:
    kinds = [kind for kind in MESSAGES if kind in found]
    if len(kinds) != 1:
        raise errors.MalformedMessage("the request must carry exactly one SAMLRequest or SAMLResponse")
    relay_state = found.get("RelayState")
    if relay_state is not None and len(relay_state) > MAX_RELAY_STATE:
        raise errors.MalformedMessage(f"the RelayState is longer than {MAX_RELAY_STATE} characters")
    return kinds[0]


def read_redirect(query_string: bytes, max_bytes: int) -> Incoming:
    """Decode a message from the HTTP-Redirect binding: base64 of raw DEFLATE in the query string."""
    # Deflated, base64'd and percent-encoded, a message of max_bytes cannot take 4 times that.
    if len(query_string) > 4 * max_bytes + 8192:
        raise errors.MessageTooLarge(f"the query string is longer than a message of {max_bytes} bytes can be")
    try:
        raw = query_string.decode("ascii")
    except UnicodeDecodeError:
        raise errors.MalformedMessage("the query string is not ASCII") from None
    found: dict[str, str] = {}
    for part in raw.split("&"):
        name, equals, value = part.partition("=")
        try:
            decoded_name = unquote_plus(name, errors="strict")
            decoded = unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            raise errors.MalformedMessage("a query parameter is not UTF-8") from None
        if decoded_name not in _PARAMETERS:
            continue
        # A name only a decoder would recognise, a second copy, or no '=' (python3-saml would leave the
        # part out of the signed string) could make two readers see two messages.
        if decoded_name != name or decoded_name in found or not equals:
            raise errors.MalformedMessage(
                f"the query string carries {decoded_name} twice, percent-encoded or without '='"
            )
        found[decoded_name] = decoded
    kind = _pick_message(found)
    signature = found.get("Signature")
    if signature is not None and len(signature) > MAX_SIGNATURE:
        raise errors.MalformedMessage("the Signature parameter is longer than any signature we check")
    deflated = strict_base64(found[kind], kind)
    return Incoming(
        REDIRECT,
        kind,
        inflate(deflated, max_bytes),
        found.get("RelayState"),
        encoded=found[kind],
        sig_alg=found.get("SigAlg"),
        signature=signature,
        query_string=raw,
    )


def read_post(form: Mapping[str, list[str]], max_bytes: int) -> Incoming:
    """Decode a message from the HTTP-POST binding: plain base64 in a form field (the XML carries the signature)."""
    found: dict[str, str] = {}
    for name in _PARAMETERS:
        values = form.get(name) or []
        if len(values) > 1:
            raise errors.MalformedMessage(f"the form carries {name} twice")
        if values:
            found[name] = values[0]
    kind = _pick_message(found)
    if len(found[kind]) > max_bytes * 4 // 3 + 4096:
        raise errors.MessageTooLarge(f"the {kind} is larger than the {max_bytes} bytes we accept")
    xml = strict_base64(found[kind], kind)
    if len(xml) > max_bytes:
        raise errors.MessageTooLarge(f"the {kind} is larger than the {max_bytes} bytes we accept")
    return Incoming(POST, kind, xml, found.get("RelayState"))
