import os
import zlib

import lmdb
import msgpack
import pytest

from hat.data.errors import CorruptFileError
from hat.data.pack_type import check_pack_type
from hat.data.pack_type.lmdb import LmdbReader, LmdbWriter


def _write(path, values, **kw):
    with LmdbWriter(path, **kw) as w:
        for v in values:
            w.append(v)


def test_keys_len_and_msgpack_values(tmp_path):
    path = str(tmp_path / "db")
    _write(path, [{"a": i, "b": bytes([i])} for i in range(5)], commit_every=2)
    assert sorted(os.listdir(tmp_path)) == ["db"]  # no temp dir left beside it
    env = lmdb.open(path, readonly=True, lock=False)
    with env.begin() as txn:
        keys = [k for k, _ in txn.cursor()]
        assert sorted(keys) == sorted([b"0", b"1", b"2", b"3", b"4", b"__len__"])
        assert txn.get(b"__len__") == b"5"
        # a map value: msgpack with a leading CRC-32 of the entries that follow it
        body = msgpack.packb({"a": 3, "b": b"\x03"})[1:]
        assert txn.get(b"3") == b"\x83\xa5crc32\xce" + zlib.crc32(body).to_bytes(4, "big") + body
        assert msgpack.unpackb(txn.get(b"3")) == {"crc32": zlib.crc32(body), "a": 3, "b": b"\x03"}
    env.close()
    reader = LmdbReader(path)
    assert len(reader) == 5 and list(reader.keys()) == [0, 1, 2, 3, 4]
    assert reader[4] == {"a": 4, "b": b"\x04"}
    with pytest.raises(IndexError, match="index 5 out of range"):
        reader[5]


def test_refuses_to_overwrite_then_overwrites(tmp_path):
    path = str(tmp_path / "db")
    _write(path, [1, 2, 3])
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        _write(path, [9])
    assert LmdbReader(path)[2] == 3  # untouched
    _write(path, [7, 8], overwrite=True)
    reader = LmdbReader(path)
    assert len(reader) == 2 and reader[0] == 7
    assert sorted(os.listdir(tmp_path)) == ["db"]


def test_failure_leaves_nothing(tmp_path):
    path = str(tmp_path / "db")

    def values():
        yield {"x": 1}
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        _write(path, values())
    assert os.listdir(tmp_path) == []


def test_failure_keeps_existing_target(tmp_path):
    path = str(tmp_path / "db")
    _write(path, ["old"])
    with pytest.raises(TypeError):  # msgpack cannot serialise an object
        _write(path, ["new", object()], overwrite=True)
    assert LmdbReader(path)[0] == "old"
    assert sorted(os.listdir(tmp_path)) == ["db"]


def test_reader_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"LMDB not found: .*missing_lmdb"):
        LmdbReader(tmp_path / "missing_lmdb")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(CorruptFileError, match=r"empty_dir: not an LMDB"):
        LmdbReader(empty)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(b"\0" * 100000)
    with pytest.raises(CorruptFileError, match=r"junk: cannot open as an LMDB"):
        LmdbReader(junk)


def test_two_readers_and_rebuilt_lmdb_in_one_process(tmp_path):
    path = str(tmp_path / "db")
    _write(path, ["a", "b"])
    r1, r2 = LmdbReader(path), LmdbReader(path)  # py-lmdb forbids opening twice: shared handle
    assert r1[1] == r2[1] == "b"
    _write(path, ["c"], overwrite=True)
    assert LmdbReader(path)[0] == "c"


def test_reader_in_forked_child(tmp_path):
    path = str(tmp_path / "db")
    _write(path, list(range(4)))
    reader = LmdbReader(path)
    assert reader[0] == 0  # parent holds an open handle when forking
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.write(write_fd, msgpack.packb([reader[i] for i in range(4)]))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert msgpack.unpackb(os.read(read_fd, 1000)) == [0, 1, 2, 3]
    assert reader[3] == 3


def test_check_pack_type():
    assert check_pack_type("LMDB") == "lmdb"
    with pytest.raises(ValueError, match="unsupported pack type 'mxrecord': supported: lmdb"):
        check_pack_type("mxrecord")


def test_view_decodes_in_place_and_names_bad_values(tmp_path):
    path = str(tmp_path / "db")
    _write(path, [{"a": 1, "b": b"payload", "c": [b"x", "y"]}, "plain"])
    env = lmdb.open(path, map_size=1 << 20)  # two damaged values beside them
    with env.begin(write=True) as txn:
        txn.put(b"2", msgpack.packb({"b": b"z" * 300})[:-10])  # cut short
        txn.put(b"3", b"\xc1 not msgpack")
        txn.put(b"__len__", b"4")
    env.close()
    reader = LmdbReader(path)
    with reader.view(0) as value:
        assert isinstance(value["b"], memoryview) and value["b"].readonly
        assert bytes(value["b"]) == b"payload" and bytes(value["c"][0]) == b"x"
        assert value["a"] == 1 and value["c"][1] == "y"
    with reader.view(1) as value:
        assert value == reader[1] == "plain"
    for idx, why in ((2, "truncated"), (3, "invalid msgpack type byte 0xc1")):
        with pytest.raises(CorruptFileError, match=rf"db: value of key b'{idx}' is not msgpack"):
            reader[idx]
        with pytest.raises(CorruptFileError, match=rf"db: value of key b'{idx}'.*{why}"):
            with reader.view(idx):
                pass
    with pytest.raises(IndexError, match="index 4 out of range"):
        with reader.view(4):
            pass
