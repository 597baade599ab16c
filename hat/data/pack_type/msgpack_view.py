"""Decode a msgpack document without copying its ``bin`` payloads.

``msgpack.unpackb`` turns every ``bin`` into a new ``bytes``: for a packed sample that is a full
copy of its pixels before the codec makes the writable copy it hands out. :func:`unpackb_view`
decodes the same documents to the same objects, except that each ``bin`` is a read-only
``memoryview`` slice of the input buffer, valid only as long as that buffer (for an LMDB value:
its read transaction).

Every msgpack type the writers produce is handled (nil, bool, int, float, str, bin, array, map);
a document using an ``ext`` type is decoded by ``msgpack.unpackb`` instead (``bin`` as bytes).
Malformed input raises ``ValueError`` like ``msgpack.unpackb`` does.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

__all__ = ["unpackb_view"]

_U8, _U16, _U32, _U64 = (struct.Struct(f">{c}").unpack_from for c in "BHIQ")
_I8, _I16, _I32, _I64 = (struct.Struct(f">{c}").unpack_from for c in "bhiq")
_F32, _F64 = (struct.Struct(f">{c}").unpack_from for c in "fd")
_INTS = {0xCC: (_U8, 1), 0xCD: (_U16, 2), 0xCE: (_U32, 4), 0xCF: (_U64, 8)}
_INTS.update({0xD0: (_I8, 1), 0xD1: (_I16, 2), 0xD2: (_I32, 4), 0xD3: (_I64, 8)})
_INTS.update({0xCA: (_F32, 4), 0xCB: (_F64, 8)})
_LENGTHS = {1: _U8, 2: _U16, 4: _U32}
# type byte -> (kind, width of the length field)
_SIZED = {0xC4: ("bin", 1), 0xC5: ("bin", 2), 0xC6: ("bin", 4)}
_SIZED.update({0xD9: ("str", 1), 0xDA: ("str", 2), 0xDB: ("str", 4)})
_SIZED.update({0xDC: ("array", 2), 0xDD: ("array", 4), 0xDE: ("map", 2), 0xDF: ("map", 4)})
_MAX_DEPTH = 64


class _Ext(Exception):
    """The document uses an ext type: let msgpack decode it."""


def unpackb_view(buf: Any) -> Any:
    """``msgpack.unpackb(buf, raw=False)``, with every ``bin`` a read-only memoryview of ``buf``.

    ``buf`` is any bytes-like object (an LMDB ``buffers=True`` value). Raises ``ValueError`` for
    truncated, malformed or trailing data.
    """
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    mv = mv.toreadonly()
    try:
        obj, end = _decode(mv, 0, 0)
    except _Ext:
        return msgpack.unpackb(mv, raw=False)
    except (struct.error, IndexError):
        raise ValueError(f"truncated msgpack data ({len(mv)} bytes)") from None
    if end != len(mv):
        raise ValueError(f"extra data after the msgpack object: {len(mv) - end} bytes")
    return obj


def _decode(mv: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise ValueError(f"msgpack data nested deeper than {_MAX_DEPTH}")
    code = mv[pos]
    pos += 1
    if code <= 0x7F:
        return code, pos
    if code >= 0xE0:
        return code - 0x100, pos
    if 0xA0 <= code <= 0xBF:
        return _str(mv, pos, code & 0x1F)
    if 0x90 <= code <= 0x9F:
        return _array(mv, pos, code & 0x0F, depth)
    if 0x80 <= code <= 0x8F:
        return _map(mv, pos, code & 0x0F, depth)
    if code == 0xC0:
        return None, pos
    if code == 0xC2 or code == 0xC3:
        return code == 0xC3, pos
    if code in _INTS:
        read, width = _INTS[code]
        return read(mv, pos)[0], pos + width
    if code in _SIZED:
        kind, width = _SIZED[code]
        n = _LENGTHS[width](mv, pos)[0]
        pos += width
        if kind == "bin":
            if pos + n > len(mv):
                raise IndexError
            return mv[pos : pos + n], pos + n
        if kind == "str":
            return _str(mv, pos, n)
        return (_array if kind == "array" else _map)(mv, pos, n, depth)
    if 0xC7 <= code <= 0xC9 or 0xD4 <= code <= 0xD8:
        raise _Ext
    raise ValueError(f"invalid msgpack type byte 0x{code:02x} at offset {pos - 1}")


def _str(mv: memoryview, pos: int, n: int) -> tuple[str, int]:
    if pos + n > len(mv):
        raise IndexError
    return str(mv[pos : pos + n], "utf-8"), pos + n


def _array(mv: memoryview, pos: int, n: int, depth: int) -> tuple[list, int]:
    out = []
    for _ in range(n):
        item, pos = _decode(mv, pos, depth + 1)
        out.append(item)
    return out, pos


def _map(mv: memoryview, pos: int, n: int, depth: int) -> tuple[dict, int]:
    out = {}
    for _ in range(n):
        key, pos = _decode(mv, pos, depth + 1)
        if isinstance(key, memoryview):
            key = bytes(key)
        elif not isinstance(key, str):
            raise ValueError(f"msgpack map key of type {type(key).__name__}: expected str or bytes")
        out[key], pos = _decode(mv, pos, depth + 1)
    return out, pos
