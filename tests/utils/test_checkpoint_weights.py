"""load_model_weights: strictness, DDP prefix, and errors that name the file and the keys."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hat.utils.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointReadError,
    CheckpointShapeError,
    load_model_weights,
    save_checkpoint,
)


def net(width: int = 4) -> nn.Module:
    torch.manual_seed(width)
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width), nn.Conv2d(width, 2, 1))


def saved(tmp_path, state, name="w.pth.tar") -> str:
    path = str(tmp_path / name)
    save_checkpoint(state, path)
    return path


def test_strict_load_copies_every_tensor(tmp_path):
    src, dst = net(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))
    report = load_model_weights(dst, saved(tmp_path, {"state_dict": src.state_dict()}))
    assert report.loaded == len(src.state_dict()) == 9
    assert report.missing_keys == [] and report.unexpected_keys == []
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_missing_and_unexpected_keys_are_errors_unless_allowed(tmp_path):
    full = net().state_dict()
    partial = {k: v for k, v in full.items() if not k.startswith("2.")}
    path = saved(tmp_path, {"state_dict": partial})
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(net(), path)
    msg = str(err.value)
    assert msg.startswith(f"{path} does not fit the model: 2 model keys missing")
    assert "2.weight, 2.bias" in msg and "allow_missing=True" in msg
    report = load_model_weights(net(), path, allow_missing=True)
    assert report.missing_keys == ["2.weight", "2.bias"] and report.loaded == 7

    extra = dict(full, **{"head.weight": torch.zeros(1)})
    path = saved(tmp_path, {"state_dict": extra}, "extra.pth.tar")
    with pytest.raises(CheckpointMismatchError, match="1 unexpected keys in the checkpoint"):
        load_model_weights(net(), path)
    assert load_model_weights(net(), path, allow_unexpected=True).unexpected_keys == ["head.weight"]


def test_long_key_lists_are_summarised(tmp_path):
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(10)])
    path = saved(tmp_path, {"state_dict": {"x": torch.zeros(1)}})
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(model, path, allow_unexpected=True)
    msg = str(err.value)
    assert "20 model keys missing" in msg and "(+15 more)" in msg and "0.weight" in msg
    assert "9.bias" not in msg  # the list is cut, not dumped


def test_ddp_prefix_is_stripped_only_when_asked_and_on_every_key(tmp_path):
    src = net()
    ddp = {f"module.{k}": v for k, v in src.state_dict().items()}
    path = saved(tmp_path, {"state_dict": ddp})
    dst = net(4)
    report = load_model_weights(dst, path)
    assert report.stripped_prefix == "module."
    assert torch.equal(dst[0].weight, src[0].weight)
    with pytest.raises(CheckpointMismatchError, match="8 model keys missing.*9 unexpected keys"):
        load_model_weights(net(), path, strip_prefix=None)
    mixed = dict(src.state_dict(), **{"module.extra": torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError, match="unexpected keys.*module.extra"):
        load_model_weights(net(), saved(tmp_path, {"state_dict": mixed}, "mixed.pth.tar"))


def test_bare_state_dict_and_shape_mismatch(tmp_path):
    path = saved(tmp_path, net(4).state_dict(), "bare.pth.tar")
    load_model_weights(net(4), path)
    with pytest.raises(CheckpointShapeError) as err:
        load_model_weights(net(6), path)
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, CheckpointError)
    assert "0.weight: checkpoint [4, 3, 3, 3] vs model [6, 3, 3, 3]" in str(err.value)
    assert str(err.value).startswith(path)


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "sub" / "float-checkpoint-best.pth.tar")
    with pytest.raises(CheckpointNotFoundError) as err:
        load_model_weights(net(), path)
    assert str(err.value) == f"checkpoint not found: {path}"
    assert isinstance(err.value, FileNotFoundError)


def test_bit_flipped_and_garbage_files_are_read_errors(tmp_path):
    path = saved(tmp_path, {"state_dict": net().state_dict()})
    data = bytearray(open(path, "rb").read())
    data[len(data) // 3] ^= 0xFF  # one flipped byte inside the zip container
    data[len(data) - 30] ^= 0xFF  # and one in its central directory
    flipped = tmp_path / "flipped.pth.tar"
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointReadError, match=f"cannot load checkpoint {flipped}"):
        load_model_weights(net(), str(flipped))
    garbage = tmp_path / "garbage.pth.tar"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(CheckpointReadError) as err:
        load_model_weights(net(), str(garbage))
    assert str(garbage) in str(err.value) and "\n" not in str(err.value)


def test_file_without_weights_entry(tmp_path):
    path = saved(tmp_path, {"epoch": 3, "optimizer": {}}, "noweights.pth.tar")
    with pytest.raises(CheckpointError, match=r"has no 'state_dict' entry \(keys: \['epoch'"):
        load_model_weights(net(), path)
