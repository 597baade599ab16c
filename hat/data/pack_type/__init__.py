"""Packed dataset storage. Only LMDB is implemented (``PACK_TYPES``)."""

from hat.data.pack_type.lmdb import LEN_KEY, LmdbReader, LmdbWriter, index_key

PACK_TYPES = ("lmdb",)


def check_pack_type(pack_type: str) -> str:
    """Return ``pack_type`` lower-cased, or raise a ValueError naming the supported types."""
    name = str(pack_type).lower()
    if name not in PACK_TYPES:
        raise ValueError(f"unsupported pack type {pack_type!r}: supported: {', '.join(PACK_TYPES)}")
    return name


__all__ = ["LEN_KEY", "PACK_TYPES", "LmdbReader", "LmdbWriter", "check_pack_type", "index_key"]
