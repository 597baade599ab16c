"""ClassificationFocalLoss: against cross-entropy, focusing, ignored pixels, level weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from hat.models.losses import ClassificationFocalLoss


def _data(c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, c, 6, 7, generator=g) * 2
    ids = torch.randint(0, c, (2, 6, 7), generator=g)
    return logits, ids


def test_gamma_0_alpha_1_is_cross_entropy_over_all_elements():
    logits, ids = _data()
    loss = ClassificationFocalLoss("f", num_classes=5, alpha=1.0, gamma=0.0)(logits, ids)["f"]
    ce = F.cross_entropy(logits, ids, reduction="sum") / logits.numel()  # mean over B*C*H*W
    assert torch.allclose(loss, ce, rtol=1e-6)


def test_focusing_down_weights_confident_pixels():
    logits = torch.tensor([[[[4.0]], [[0.0]]]])  # p(class 0) = 0.982
    loss = ClassificationFocalLoss("f", num_classes=2, alpha=0.25, gamma=2.0, reduction="sum")
    p = 1 / (1 + math.exp(-4.0))
    expected = -0.25 * (1 - p) ** 2 * math.log(p)
    assert loss(logits, torch.tensor([[[0]]]))["f"].item() == pytest.approx(expected, rel=1e-5)
    p1 = 1 - p  # the wrong class: hard pixel, hardly down-weighted
    hard = loss(logits, torch.tensor([[[1]]]))["f"].item()
    assert hard == pytest.approx(-0.25 * (1 - p1) ** 2 * math.log(p1), rel=1e-5)
    assert hard > 1000 * expected


def test_ids_and_one_hot_agree_and_ignored_pixels_count_zero():
    logits, ids = _data()
    ids[0, :2] = 255
    loss = ClassificationFocalLoss("f", num_classes=5)
    one_hot = F.one_hot(ids.clamp(max=4), 5).permute(0, 3, 1, 2).float()
    one_hot[0, :, :2] = 0
    a = loss(logits, ids)["f"]
    assert torch.allclose(a, loss(logits, one_hot)["f"])
    assert torch.allclose(a, loss(logits, one_hot[:, None].squeeze(1))["f"])
    valid_only = loss(logits[:, :, 2:], ids[:, 2:])["f"]
    assert not torch.allclose(a, valid_only)  # mean over all elements, ignored ones included


def test_levels_are_named_and_weighted():
    logits, ids = _data()
    coarse = F.avg_pool2d(logits, 2)
    loss = ClassificationFocalLoss("Focal", num_classes=5, weight=(2.0, 0.5))
    out = loss([logits, coarse], [ids, ids[:, ::2, ::2][:, :3, :3]])
    assert list(out) == ["Focal_0", "Focal_1"]
    single = ClassificationFocalLoss("Focal", num_classes=5)
    assert torch.allclose(out["Focal_0"], 2.0 * single(logits, ids)["Focal"])
    with pytest.raises(ValueError, match="differ in size"):
        loss([logits], [ids[:, :3]])
    with pytest.raises(ValueError, match="channels"):
        loss(logits, torch.zeros(2, 4, 6, 7))
