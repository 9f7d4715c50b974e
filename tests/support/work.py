"""Work meters: what a request made the SP do, counted instead of timed.

Tests never assert wall-clock time (speed is `make bench`'s business). A guard against a
denial of service is proved by the work it avoids: `metered()` spies, for the duration of a
`with` block, on

- xmlsec: every signature verification (`SignatureContext.verify`, and `verify_binary`, which
  python3-saml uses for HTTP-Redirect query signatures), whoever asks for it;
- zlib: every decompression, its input and how many bytes it produced (deflate bombs);
- lxml: every document `lxml.etree.fromstring` parsed (the SP's one parser for untrusted
  messages, sp.saml.xml.parse_message, goes through it) and how many elements it built;
- optionally (trace_memory=True) the peak of Python's own allocations, with tracemalloc.

Each spy counts and delegates to the real function, so behaviour is unchanged. Spies nest: an
outer meter sees everything an inner one sees.
"""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import xmlsec
from lxml import etree

# A generous bound for the Python memory one hostile request may allocate at its peak: a
# deflate bomb or an expanded entity would be hundreds of megabytes; real messages take < 2 MB.
PEAK_MEMORY_LIMIT_BYTES = 50 * 1024 * 1024


@dataclass
class Parse:
    input_length: int
    elements: int


@dataclass
class Work:
    """What happened inside one `metered()` block."""

    xmlsec_verifications: int = 0
    # (input, output length) for each zlib decompression call.
    inflations: list[tuple[bytes, int]] = field(default_factory=list)
    parses: list[Parse] = field(default_factory=list)
    # Peak bytes of Python allocations made in the block, above what it started with (trace_memory=True only).
    peak_python_bytes: int | None = None

    @property
    def largest_inflation(self) -> int:
        """The most bytes one decompression call produced (0: nothing was inflated)."""
        return max((produced for _, produced in self.inflations), default=0)

    def fed(self, data: bytes) -> bool:
        """Whether data, or any part of it, was ever handed to a zlib decompressor."""
        return any(given and given in data for given, _ in self.inflations)

    def amplified_parses(self) -> list[Parse]:
        """Parses that built more elements than their input could spell out (an element takes >= 4 bytes: <a/>).

        Only expanded entities can do that (billion laughs with markup in the entities).
        """
        return [parse for parse in self.parses if parse.elements > max(1, parse.input_length // 4)]


def _as_bytes(data) -> bytes:
    return bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else b""


class _CountingInflater:
    """A zlib decompression object that records what it produced."""

    def __init__(self, inner, work: Work) -> None:
        self._inner, self._work = inner, work

    def decompress(self, data, max_length: int = 0):
        output = self._inner.decompress(data, max_length)
        self._work.inflations.append((_as_bytes(data), len(output)))
        return output

    def flush(self, *args):
        output = self._inner.flush(*args)
        self._work.inflations.append((b"", len(output)))
        return output

    def copy(self):
        return _CountingInflater(self._inner.copy(), self._work)

    def __getattr__(self, name):  # eof, unused_data, unconsumed_tail
        return getattr(self._inner, name)


@contextmanager
def metered(*, trace_memory: bool = False) -> Iterator[Work]:
    """Count the work done inside the block (see the module docstring); yields the Work, filled in at exit."""
    work = Work()
    real_context, real_decompressobj, real_decompress = xmlsec.SignatureContext, zlib.decompressobj, zlib.decompress
    real_fromstring = etree.fromstring

    class CountingSignatureContext(real_context):
        def verify(self, *args, **kwargs):
            work.xmlsec_verifications += 1
            return super().verify(*args, **kwargs)

        def verify_binary(self, *args, **kwargs):
            work.xmlsec_verifications += 1
            return super().verify_binary(*args, **kwargs)

    def decompressobj(*args, **kwargs):
        return _CountingInflater(real_decompressobj(*args, **kwargs), work)

    def decompress(data, *args, **kwargs):
        output = real_decompress(data, *args, **kwargs)
        work.inflations.append((_as_bytes(data), len(output)))
        return output

    def fromstring(text, *args, **kwargs):
        root = real_fromstring(text, *args, **kwargs)
        work.parses.append(Parse(len(text), sum(1 for _ in root.iter(tag=etree.Element))))
        return root

    started_tracing, baseline = False, 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xmlsec, "SignatureContext", CountingSignatureContext)
        patch.setattr(zlib, "decompressobj", decompressobj)
        patch.setattr(zlib, "decompress", decompress)
        patch.setattr(etree, "fromstring", fromstring)
        if trace_memory:
            if tracemalloc.is_tracing():
                tracemalloc.reset_peak()
                baseline = tracemalloc.get_traced_memory()[0]
            else:
                tracemalloc.start()
                started_tracing = True
        try:
            yield work
        finally:
            if trace_memory:
                work.peak_python_bytes = tracemalloc.get_traced_memory()[1] - baseline
                if started_tracing:
                    tracemalloc.stop()


# --- Regular expressions -------------------------------------------------------------------------


@dataclass
class RegexWork:
    """Every match run on an RE2 regex inside a `regex_work()` block."""

    # (pattern, RE2 program size, length of the text matched) for each match call.
    calls: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def longest_text(self) -> int:
        return max((length for _, _, length in self.calls), default=0)

    @property
    def characters(self) -> int:
        """Characters matched in all: RE2's work is linear in them (no backtracking, whatever the pattern)."""
        return sum(length for _, _, length in self.calls)


@contextmanager
def regex_work() -> Iterator[RegexWork]:
    """Count the matches run on RE2 regexes inside the block, and on what."""
    import re2

    work, regexp = RegexWork(), type(re2.compile("x"))
    with pytest.MonkeyPatch.context() as patch:
        for name in ("match", "fullmatch", "search"):
            real = getattr(regexp, name)

            def spy(self, text, *args, _real=real, **kwargs):
                work.calls.append((self.pattern, self.programsize, len(text)))
                return _real(self, text, *args, **kwargs)

            patch.setattr(regexp, name, spy)
        yield work
