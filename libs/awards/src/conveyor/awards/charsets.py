"""Which text encoding a CSV file is in: UTF-8 (with or without BOM), UTF-16/32, Windows-1252.

The set is closed on purpose: a statistical detector guesses among dozens of code pages and
picks a wrong one on short files; award exports come from Excel and web exports, which write
exactly these. A file that is none of them is rejected, never decoded with replacement
characters.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from conveyor.awards.errors import UnreadableFileError

_SCAN_BYTES = 1 << 20
_SAMPLE_BYTES = 4096

# Longest first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

UTF8 = "utf-8"
WINDOWS_1252 = "cp1252"
"""Windows-1252 is Latin-1 with printable characters in 0x80-0x9F, so it reads both."""


def detect_encoding(path: Path) -> str:
    """The Python codec name to read ``path`` with; raises ``UnreadableFileError`` otherwise.

    Order: a byte-order mark decides; NUL bytes in every other position mean BOM-less
    UTF-16; otherwise the whole file must be valid UTF-8, else valid Windows-1252 (which leaves
    only five byte values undefined) without NUL bytes, else it is rejected.
    """
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            _check_decodes(path, codec)
            return codec
    if bom_less := _bom_less_utf16(sample):
        _check_decodes(path, bom_less)
        return bom_less
    if b"\0" in sample:
        raise UnreadableFileError(path, "binary data (NUL bytes), not a text CSV file")
    utf8_error = _first_error(path, UTF8)
    if utf8_error is None:
        return UTF8
    cp1252_error = _first_error(path, WINDOWS_1252)
    if cp1252_error is None:
        return WINDOWS_1252
    raise UnreadableFileError(
        path,
        "text encoding not recognised: not UTF-8 (byte "
        f"{utf8_error[1]:#04x} at offset {utf8_error[0]:,}) and not Windows-1252/Latin-1 "
        f"(byte {cp1252_error[1]:#04x} at offset {cp1252_error[0]:,}); "
        "save it as UTF-8 and import again",
    )


def describe(codec: str) -> str:
    """A codec name as an operator knows it."""
    return {
        UTF8: "UTF-8",
        "utf-8-sig": "UTF-8 with BOM",
        "utf-16": "UTF-16",
        "utf-16-le": "UTF-16 LE (no BOM)",
        "utf-16-be": "UTF-16 BE (no BOM)",
        "utf-32": "UTF-32",
        WINDOWS_1252: "Windows-1252/Latin-1",
    }.get(codec, codec)


def _bom_less_utf16(sample: bytes) -> str | None:
    # ASCII text in UTF-16 has a NUL in every other byte; which half tells the byte order.
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4:
        return None
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _check_decodes(path: Path, codec: str) -> None:
    error = _first_error(path, codec)
    if error is not None:
        raise UnreadableFileError(
            path, f"not valid {describe(codec)}: byte {error[1]:#04x} at offset {error[0]:,}"
        )


def _first_error(path: Path, codec: str) -> tuple[int, int] | None:
    """(offset, byte value) of the first undecodable byte, or None when the file decodes."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_SCAN_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # The decoder may hold back the start of a sequence from the last chunk.
                held_back = len(exc.object) - len(chunk)
                return offset - held_back + exc.start, exc.object[exc.start]
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, 0
    return None
