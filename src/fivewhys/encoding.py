"""Text of an input file, decoded by its byte-order mark: what Windows tools save is read too.

Windows PowerShell 5's `>` redirect writes UTF-16LE with a byte-order mark (and CRLF line
ends); `Out-File -Encoding utf8` writes UTF-8 with one. Files without a mark are UTF-8.
"""

from __future__ import annotations

import codecs

#: (mark, Python codec, the name a report gives it); UTF-32LE before UTF-16LE: FF FE starts both
BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with a byte-order mark"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
)
UTF8 = "UTF-8"


def sniff(head: bytes) -> tuple[int, str, str]:
    """(length of the mark, codec, name) of a file starting with `head` (its first 4 bytes)."""
    for mark, codec, name in BOMS:
        if head.startswith(mark):
            return len(mark), codec, name
    return 0, "utf-8", UTF8


def decode(data: bytes) -> tuple[str, str]:
    """The text (mark removed) and the encoding's name; raises UnicodeDecodeError."""
    skip, codec, name = sniff(data[:4])
    return data[skip:].decode(codec), name


def is_wide(name: str) -> bool:
    """UTF-16 or UTF-32: bytes that only read as text once decoded (no byte-wise JSON scan)."""
    return name.startswith(("UTF-16", "UTF-32"))
