"""Tests of detecting a CSV file's text encoding."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from conveyor.awards.charsets import detect_encoding
from conveyor.awards.errors import UnreadableFileError

TEXT = "Award Ref No,Awardee Name\nA-1,Niño Ñañez & Peña — “quoted”\n"


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-32"), "utf-32"),
        (TEXT.encode("cp1252"), "cp1252"),
        ("Award Ref No\nNiño\n".encode("latin-1"), "cp1252"),
        (b"", "utf-8"),
    ],
)
def test_the_encoding_is_detected(tmp_path: Path, data: bytes, codec: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert detect_encoding(path) == codec
    if data:
        assert path.read_text(encoding=codec).replace("\ufeff", "").startswith("Award Ref No")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04\x00\x00binary\x00\x00", "binary data (NUL bytes), not a text CSV file"),
        (
            b"Award,Ni\xf1o\x81\n",
            "text encoding not recognised: not UTF-8 (byte 0xf1 at offset 8) and not "
            "Windows-1252/Latin-1 (byte 0x81 at offset 10); save it as UTF-8 and import again",
        ),
        (codecs.BOM_UTF8 + b"Ni\xf1o\n", "not valid UTF-8 with BOM: byte 0xf1 at offset 5"),
    ],
)
def test_a_file_in_no_known_encoding_is_unreadable(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(UnreadableFileError) as caught:
        detect_encoding(path)
    assert caught.value.reason == reason
