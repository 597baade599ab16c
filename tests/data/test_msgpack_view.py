import msgpack
import numpy as np
import pytest

from hat.data.pack_type.msgpack_view import unpackb_view


def _bytes_for_views(obj):
    """``obj`` with every memoryview turned into bytes (what msgpack.unpackb returns)."""
    if isinstance(obj, memoryview):
        return bytes(obj)
    if isinstance(obj, dict):
        return {k: _bytes_for_views(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_bytes_for_views(v) for v in obj]
    return obj


def _views(obj):
    if isinstance(obj, memoryview):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _views(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _views(v)


INT_EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]
INT_EDGES += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
DOCUMENTS = [
    None,
    True,
    False,
    *INT_EDGES,
    0.5,
    -1e300,
    "",
    "é" * 15,
    "x" * 31,
    "x" * 32,
    "y" * 255,
    "y" * 256,
    "z" * 70000,
    b"",
    b"\x00" * 255,
    b"\x01" * 256,
    b"\x02" * 70000,
    [],
    list(range(15)),
    list(range(16)),
    list(range(70000)),
    {str(i): i for i in range(15)},
    {str(i): [i, str(i), bytes([i % 256])] for i in range(16)},
    {f"k{i}": None for i in range(70000)},
    {b"raw key": {"nested": [[[b"deep"]]]}},
    {
        "schema": "hat.flyingchairs/1",
        "img_name": 7,
        "shape": [4, 5],
        "img_format": "raw",
        "img1": bytes(range(60)),
        "img2": bytes(60),
        "flow": np.arange(40, dtype="<f4").tobytes(),
    },
]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: type(d).__name__)
def test_same_objects_as_msgpack(doc):
    packed = msgpack.packb(doc, use_bin_type=True)
    got = unpackb_view(packed)
    assert _bytes_for_views(got) == msgpack.unpackb(packed, raw=False)


def test_single_precision_floats():
    packed = msgpack.packb([1.25, -3.5], use_single_float=True)
    assert packed[1] == 0xCA  # float32 on the wire
    assert unpackb_view(packed) == [1.25, -3.5]


def test_bins_are_read_only_views_of_the_buffer():
    payload = np.arange(1000, dtype="<f4").tobytes()
    buf = bytearray(msgpack.packb({"a": payload, "b": [b"xyz"]}, use_bin_type=True))
    value = unpackb_view(buf)
    views = list(_views(value))
    assert len(views) == 2 and all(v.readonly for v in views)
    arr = np.frombuffer(value["a"], "<f4")
    np.testing.assert_array_equal(arr, np.arange(1000, dtype=np.float32))
    start = bytes(buf).index(payload)
    buf[start : start + 4] = np.array([42.0], "<f4").tobytes()  # the view sees the buffer
    assert arr[0] == 42.0


def test_ext_types_fall_back_to_msgpack():
    packed = msgpack.packb({"e": msgpack.ExtType(5, b"abc"), "b": b"q"}, use_bin_type=True)
    assert unpackb_view(packed) == msgpack.unpackb(packed, raw=False)


@pytest.mark.parametrize(
    "data, match",
    [
        (msgpack.packb({"a": b"x" * 300})[:-5], "truncated"),
        (msgpack.packb("hello")[:3], "truncated"),
        (msgpack.packb([1, 2, 3])[:2], "truncated"),
        (b"", "truncated"),
        (msgpack.packb(1) + b"\x01", "extra data"),
        (b"\xc1", "invalid msgpack type byte 0xc1"),
        (msgpack.packb({1: 2}), "map key of type int"),
        (b"\xa2\xff\xfe", "utf-8"),
    ],
)
def test_malformed_input_raises_value_error(data, match):
    with pytest.raises(ValueError, match=match):
        unpackb_view(data)
    with pytest.raises(ValueError):  # msgpack rejects the same inputs
        msgpack.unpackb(data, raw=False)
