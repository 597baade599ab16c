"""A CRC-32 inside each msgpack map value, over every byte of the value that follows it.

:func:`pack_with_crc` writes a map value as a msgpack map whose *first* entry is
``"crc32": uint32`` and whose other entries follow exactly as ``msgpack.packb`` encodes them;
the CRC (``zlib.crc32``) covers those following bytes: every other key, the metadata and all
payloads. Any msgpack reader sees one more field; :func:`verify_crc` checks a stored value in
one pass over its buffer without decoding it. Values without the leading ``"crc32"`` entry
(written before it existed, or by Horizon's HAT) have nothing to verify.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack

__all__ = ["CRC_KEY", "pack_with_crc", "verify_crc"]

CRC_KEY = "crc32"
_CRC_ENTRY = b"\xa5crc32\xce"  # fixstr "crc32", then uint32 (big-endian, 4 bytes)
_CRC_ENTRY_LEN = len(_CRC_ENTRY) + 4


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x80 | n])
    if n < 1 << 16:
        return b"\xde" + struct.pack(">H", n)
    return b"\xdf" + struct.pack(">I", n)


def _map_body_offset(buf: Any) -> tuple[int, int] | None:
    """``(entry count, offset of the first entry)`` of a msgpack map, None if not a map."""
    code = buf[0]
    if 0x80 <= code <= 0x8F:
        return code & 0x0F, 1
    if code == 0xDE and len(buf) >= 3:
        return struct.unpack_from(">H", buf, 1)[0], 3
    if code == 0xDF and len(buf) >= 5:
        return struct.unpack_from(">I", buf, 1)[0], 5
    return None


def pack_with_crc(obj: Any) -> bytes:
    """``msgpack.packb(obj)``; a ``dict`` gets the leading ``"crc32"`` entry (module docstring)."""
    packed = msgpack.packb(obj, use_bin_type=True)
    if not isinstance(obj, dict):
        return packed
    if CRC_KEY in obj:
        raise ValueError(f"{CRC_KEY!r} is reserved for the checksum: rename that field")
    n, offset = _map_body_offset(packed)  # type: ignore[misc]
    body = memoryview(packed)[offset:]
    crc = zlib.crc32(body)
    return b"".join((_map_header(n + 1), _CRC_ENTRY, struct.pack(">I", crc), body))


def verify_crc(buf: Any) -> tuple[int, int] | None:
    """``(stored, computed)`` CRC of a value written by :func:`pack_with_crc`; None when the
    value carries no CRC. ``buf`` is any bytes-like object (e.g. an LMDB memory-map buffer)."""
    mv = memoryview(buf)
    if not len(mv):
        return None
    header = _map_body_offset(mv)
    if header is None:
        return None
    n, offset = header
    start = offset + _CRC_ENTRY_LEN
    if n == 0 or len(mv) < start or mv[offset : offset + len(_CRC_ENTRY)] != _CRC_ENTRY:
        return None
    stored = struct.unpack_from(">I", mv, start - 4)[0]
    return stored, zlib.crc32(mv[start:])
