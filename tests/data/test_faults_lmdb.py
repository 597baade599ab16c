"""Damaged and empty LMDBs: a truncated data file is refused when opened (not a bus error), a
flipped byte anywhere in a record fails its CRC-32, a damaged record names the file and the key
in one line (also when read by a DataLoader worker and through ``tools/train.py``), and an empty
training LMDB is refused in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib

import lmdb
import msgpack
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hat.data.codecs.flyingchairs import encode_pair
from hat.data.datasets import FlyingChairs
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader, LmdbWriter
from hat.data.pack_type.record_checksum import pack_with_crc, verify_crc
from hat.registry import build_from_registry

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "engine"))
from engine_test_helpers import opts, run_tool  # noqa: E402

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lmdb_toy_config.py")
DAMAGED_KEY = 3


@pytest.fixture
def lmdb_copy(train_lmdb, tmp_path) -> str:
    dst = str(tmp_path / "train_lmdb")
    shutil.copytree(train_lmdb, dst)
    return dst


def _flip_payload_byte(path: str, idx: int) -> None:
    """Flip one bit in the middle of record ``idx``'s first image, in the data file itself."""
    raw = LmdbReader(path, verify="never").get_bytes(idx)
    middle = len(raw) // 3
    chunk = raw[middle : middle + 64]
    data_file = os.path.join(path, "data.mdb")
    with open(data_file, "r+b") as f:
        data = f.read()
        assert data.count(chunk) == 1
        pos = data.index(chunk) + 10
        f.seek(pos)
        f.write(bytes([data[pos] ^ 0x10]))


def _break_msgpack(path: str, idx: int) -> None:
    """Overwrite the first byte of record ``idx`` with 0xc1 (never valid in msgpack)."""
    raw = LmdbReader(path, verify="never").get_bytes(idx)
    data_file = os.path.join(path, "data.mdb")
    with open(data_file, "r+b") as f:
        data = f.read()
        pos = data.index(raw[:64])
        f.seek(pos)
        f.write(b"\xc1")


def test_truncated_data_file_is_refused_when_opened(lmdb_copy):
    data_file = os.path.join(lmdb_copy, "data.mdb")
    size = os.path.getsize(data_file)
    os.truncate(data_file, size // 2)
    with pytest.raises(CorruptFileError, match="truncated LMDB") as info:
        FlyingChairs(lmdb_copy)
    assert f"{data_file} has {size // 2} bytes" in str(info.value)
    assert f"ends at byte {size}" in str(info.value)


def test_missing_records_are_refused_when_opened(lmdb_copy):
    env = lmdb.open(lmdb_copy, lock=False)
    with env.begin(write=True) as txn:
        txn.delete(b"5")
    env.close()
    with pytest.raises(CorruptFileError, match=r"'__len__' says 8 samples but the LMDB holds 7"):
        LmdbReader(lmdb_copy)


def test_crc_covers_every_byte_after_it():
    value = encode_pair(
        np.zeros((4, 6, 3), np.uint8), np.ones((4, 6, 3), np.uint8),
        np.zeros((4, 6, 2), np.float32), 7,
    )  # fmt: skip
    packed = pack_with_crc(value)
    assert msgpack.unpackb(packed) == dict(value, crc32=verify_crc(packed)[0])
    stored, computed = verify_crc(packed)
    assert stored == computed == zlib.crc32(msgpack.packb(value)[1:])
    for pos in range(12, len(packed)):  # after the map header and the CRC entry
        damaged = bytearray(packed)
        damaged[pos] ^= 0x01
        stored, computed = verify_crc(damaged)
        assert stored != computed, pos
    assert verify_crc(msgpack.packb(value)) is None  # a record written without a CRC
    with pytest.raises(ValueError, match="'crc32' is reserved"):
        pack_with_crc({"crc32": 1})


def test_records_without_crc_still_read(tmp_path):
    path = str(tmp_path / "old_lmdb")
    value = encode_pair(
        np.full((4, 6, 3), 9, np.uint8), np.ones((4, 6, 3), np.uint8),
        np.full((4, 6, 2), 0.5, np.float32), 1,
    )  # fmt: skip
    env = lmdb.open(path, map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0", msgpack.packb(value, use_bin_type=True))
        txn.put(b"__len__", b"1")
    env.close()
    item = FlyingChairs(path)[0]
    assert item["img_name"] == 1 and int(item["img"][0][0, 0, 0]) == 9
    assert float(item["gt_flow"][3, 5, 1]) == 0.5


@pytest.mark.parametrize("verify", ["once", "always"])
def test_flipped_image_byte_fails_the_crc_naming_file_and_key(lmdb_copy, verify):
    _flip_payload_byte(lmdb_copy, DAMAGED_KEY)
    reader = LmdbReader(lmdb_copy, verify=verify)
    for read in (reader.get_bytes, reader.__getitem__, lambda i: reader.view(i).__enter__()):
        with pytest.raises(CorruptFileError) as info:
            read(DAMAGED_KEY)
        assert str(info.value).startswith(f"{lmdb_copy}: key b'{DAMAGED_KEY}': the value fails")
        assert "CRC-32" in str(info.value)
    assert reader[2]["img_name"] == LmdbReader(lmdb_copy)[2]["img_name"]  # others read fine
    assert LmdbReader(lmdb_copy, verify="never")[DAMAGED_KEY]["shape"] == [64, 96]  # silent


def test_verify_once_checks_each_record_once_across_workers(lmdb_copy):
    dataset = FlyingChairs(lmdb_copy)
    loader = build_from_registry(
        dict(type=DataLoader, dataset=dataset, batch_size=2, num_workers=2)
    )
    assert sum(1 for _ in loader) == 4
    assert dataset.reader._verified.tolist() == [1] * 8  # set by the workers, seen here


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("damage", [_flip_payload_byte, _break_msgpack])
def test_damaged_record_read_by_a_loader_is_one_line(lmdb_copy, num_workers, damage):
    damage(lmdb_copy, DAMAGED_KEY)
    loader = build_from_registry(
        dict(
            type=DataLoader, dataset=FlyingChairs(lmdb_copy), batch_size=2, num_workers=num_workers
        )
    )
    with pytest.raises(CorruptFileError) as info:
        for _ in loader:
            pass
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{lmdb_copy}: ") and f"key b'{DAMAGED_KEY}'" in message
    if num_workers:
        assert message.endswith(")") and "in DataLoader worker process" in message
        assert "Traceback" in info.value.worker_traceback


def test_empty_dataset_is_refused_when_the_loader_is_built(tmp_path):
    path = str(tmp_path / "empty_lmdb")
    with LmdbWriter(path):
        pass
    dataset = FlyingChairs(path)
    assert len(dataset) == 0
    with pytest.raises(
        Exception, match=r"data_loader\.dataset: the dataset is empty \(0 samples\)"
    ):
        build_from_registry(
            dict(type=DataLoader, dataset=dataset, batch_size=2), path="data_loader"
        )


def _train(tmp_path, lmdb_path: str, num_workers: int = 0) -> subprocess.CompletedProcess:
    ckpt_dir = str(tmp_path / f"ckpt{num_workers}")
    values = dict(ckpt_dir=ckpt_dir, lmdb_path=lmdb_path, num_workers=num_workers)
    return run_tool(
        "train", "--config", CONFIG, *opts(**values, batch_size_per_gpu=2),
        cwd=str(tmp_path),
    )  # fmt: skip


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_train_runs_on_the_intact_lmdb(lmdb_copy, tmp_path):
    result = _train(tmp_path, lmdb_copy)
    assert result.returncode == 0, result.stderr
    assert "training of stage float finished" in result.stdout


def test_train_refuses_a_truncated_lmdb_before_training(lmdb_copy, tmp_path):
    data_file = os.path.join(lmdb_copy, "data.mdb")
    os.truncate(data_file, os.path.getsize(data_file) - 4096 * 3)
    result = _train(tmp_path, lmdb_copy)
    assert result.returncode == 1
    [line] = _error_lines(result)
    assert line.startswith("hat-train: error: ") and f"{lmdb_copy}: truncated LMDB" in line
    assert not os.path.exists(tmp_path / "ckpt0" / "float-checkpoint-last.pth.tar")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_train_stops_at_a_corrupt_record_with_one_line(lmdb_copy, tmp_path, num_workers):
    _flip_payload_byte(lmdb_copy, DAMAGED_KEY)
    result = _train(tmp_path, lmdb_copy, num_workers)
    assert result.returncode == 1
    [line] = _error_lines(result)
    assert line.startswith(f"hat-train: error: {lmdb_copy}: key b'{DAMAGED_KEY}': the value fails")


def test_train_refuses_an_empty_lmdb_in_one_line(tmp_path):
    path = str(tmp_path / "empty_lmdb")
    with LmdbWriter(path):
        pass
    result = _train(tmp_path, path)
    assert result.returncode == 1
    [line] = _error_lines(result)
    assert line.startswith(
        "hat-train: error: float_trainer.data_loader.dataset: the dataset is empty"
    )
    assert path in line


def test_torch_reraise_form_is_reduced_to_the_original_line():
    try:
        raise CorruptFileError("/data/x_lmdb: key b'7': the value fails its CRC-32 check")
    except CorruptFileError:
        from torch._utils import ExceptionWrapper

        wrapper = ExceptionWrapper(where="in DataLoader worker process 1")
    with pytest.raises(CorruptFileError) as info:
        wrapper.reraise()
    assert str(info.value) == (
        "/data/x_lmdb: key b'7': the value fails its CRC-32 check (in DataLoader worker process 1)"
    )
    assert torch.is_tensor(torch.zeros(1))  # torch imported for the wrapper above
