"""zipfile below its public API: a zip entry deflated by ISA-L instead of zlib (the ``fast``
transport); in ``plain`` mode entries keep zipfile's own zlib compressor.

ISA-L writes the same raw deflate stream several times faster, and deflating is most of an
xlsx export's work (``bench.export_xlsx_writers`` prints both modes). zipfile has no hook for
its compressor, so this swaps the ``_compressor`` its entry writer calls (CPython 3.11 to
3.14) before anything is written; without that attribute the entry stays on zlib. The only
module that touches zipfile's private state (``tests/test_library_boundaries.py``).
"""

from __future__ import annotations

from typing import IO

from isal import isal_zlib


def use_isal_deflate(entry: IO[bytes], level: int) -> bool:
    """Give a just-opened deflated entry ISA-L's compressor; False if zipfile has no slot."""
    if getattr(entry, "_compressor", None) is None:
        return False
    level = min(level, isal_zlib.ISAL_BEST_COMPRESSION)
    entry._compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)  # type: ignore[attr-defined]
    return True
