import numpy as np
import pytest
import torch

from hat.data.collates import collate_2d


def test_tensor_samples():
    samples = [
        {"img": torch.rand(6, 4, 5), "gt_flow": torch.rand(2, 4, 5), "img_name": i, "tag": f"s{i}"}
        for i in range(3)
    ]
    batch = collate_2d(samples)
    assert batch["img"].shape == (3, 6, 4, 5) and batch["gt_flow"].shape == (3, 2, 4, 5)
    assert batch["img_name"].dtype == torch.int64 and batch["img_name"].tolist() == [0, 1, 2]
    assert batch["tag"] == ["s0", "s1", "s2"]
    torch.testing.assert_close(batch["img"][2], samples[2]["img"])


def test_numpy_lists_nested_and_numbers():
    samples = [
        {
            "img": [np.full((2, 3, 3), i, np.uint8), np.full((2, 3, 3), 10 + i, np.uint8)],
            "meta": {"scale": 0.5 * i, "ok": True, "size": (2, 3)},
            "ragged": list(range(i + 1)),
        }
        for i in range(2)
    ]
    batch = collate_2d(samples)
    img1, img2 = batch["img"]
    assert img1.shape == (2, 2, 3, 3) and img1.dtype == torch.uint8
    assert img2[1, 0, 0, 0].item() == 11
    assert batch["meta"]["scale"].dtype == torch.float32 and batch["meta"]["scale"].tolist() == [
        0,
        0.5,
    ]
    assert batch["meta"]["ok"].tolist() == [True, True]
    assert [t.tolist() for t in batch["meta"]["size"]] == [[2, 2], [3, 3]]
    assert batch["ragged"] == [[0], [0, 1]]


def test_unequal_shapes_stay_a_list_and_errors():
    batch = collate_2d([torch.zeros(2, 2), torch.zeros(3, 2)])
    assert isinstance(batch, list) and len(batch) == 2
    with pytest.raises(ValueError, match="empty batch"):
        collate_2d([])
    with pytest.raises(KeyError, match="missing from some samples"):
        collate_2d([{"a": 1}, {"b": 2}])
