"""BevSegDecoder: BEV -> map resampling geometry, loss, post_process, head, FCN target/decoder."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hat.models.losses.cross_entropy_loss import CrossEntropyLossV2
from hat.models.task_modules.fcn import (
    BevSegDecoder,
    DepthwiseSeparableFCNHead,
    FCNDecoder,
    FCNTarget,
)
from hat.models.task_modules.fcn.bev_to_map import bev_to_map_grid, resample_to_map
from hat.registry import build_from_registry

BEV = (51.2, 51.2, 0.8)
MAP = (15.0, 30.0, 0.15)


def seed_cfg(use_bce: bool = False) -> dict:
    """The seed's BevSegDecoder dict (bev_size, map size and classes of the recipe)."""
    return dict(
        type="BevSegDecoder",
        name="bev_seg",
        use_bce=use_bce,
        task_weight=10.0,
        bev_size=BEV,
        task_size=MAP,
        head=dict(
            type="DepthwiseSeparableFCNHead",
            input_index=0,
            in_channels=48,
            feat_channels=48,
            num_classes=4,
            dropout_ratio=0.1,
            num_convs=2,
            bn_kwargs={},
        ),
        target=dict(type="FCNTarget"),
        loss=dict(
            type="CrossEntropyLossV2",
            loss_name="decode",
            reduction="mean",
            ignore_index=-1,
            use_sigmoid=use_bce,
            class_weight=2.0 if use_bce else [1.0, 5.0, 5.0, 5.0],
        ),
        decoder=dict(type="FCNDecoder", upsample_output_scale=1, use_bce=use_bce, bg_cls=-1),
    )


def _centres(half: float, res: float) -> torch.Tensor:
    n = round(2 * half / res)
    return -half + (torch.arange(n, dtype=torch.float64) + 0.5) * res


@pytest.mark.parametrize("bev_cells", [128, 64, 256])
def test_linear_ramp_lands_on_map_cell_centres(bev_cells):
    """BEV logits equal to each cell centre's ego x (channel 0) and y (channel 1) resample to
    the ego x, y of every map cell centre (bilinear interpolation is exact on a linear field),
    whatever the resolution of the logits covering the BEV extent."""
    c = _centres(BEV[0], 2 * BEV[0] / bev_cells)
    ramp = torch.stack([c.view(1, -1).expand(bev_cells, -1), c.view(-1, 1).expand(-1, bev_cells)])
    out = resample_to_map(ramp.float().unsqueeze(0), bev_to_map_grid(BEV, MAP))[0].double()
    assert out.shape == (2, 200, 400)
    mx, my = _centres(MAP[1], MAP[2]), _centres(MAP[0], MAP[2])
    assert (out[0] - mx.view(1, -1)).abs().max().item() < 2e-5
    assert (out[1] - my.view(-1, 1)).abs().max().item() < 2e-5
    assert out[0, 0, 0].item() == pytest.approx(-29.925, abs=2e-5)
    assert out[1, 199, 0].item() == pytest.approx(14.925, abs=2e-5)


def test_one_hot_cell_at_known_ego_point_lands_there():
    """A one-hot BEV cell at x = 10 m, y = -5 m: the map shows the bilinear tent around that
    cell's centre (10, -5.2), and the class map marks the map cell of (10, -5)."""
    d = build_from_registry(seed_cfg())
    j, i = math.floor((10 + 51.2) / 0.8), math.floor((-5 + 51.2) / 0.8)
    xc, yc = -51.2 + (j + 0.5) * 0.8, -51.2 + (i + 0.5) * 0.8
    assert (j, i) == (76, 57) and xc == pytest.approx(10.0) and yc == pytest.approx(-5.2)
    logits = torch.zeros(1, 4, 128, 128)
    logits[0, 1, i, j] = 1.0
    m = d.to_map(logits)[0, 1].double()
    mx, my = _centres(30, 0.15), _centres(15, 0.15)
    tent = (1 - (mx.view(1, -1) - xc).abs() / 0.8).clamp(min=0) * (
        1 - (my.view(-1, 1) - yc).abs() / 0.8
    ).clamp(min=0)
    assert (m - tent).abs().max().item() < 1e-5
    assert m.sum().item() == pytest.approx((0.8 / 0.15) ** 2, rel=0.02)  # mass of one BEV cell
    r, c = divmod(int(m.argmax()), 400)
    assert abs(mx[c] - xc) <= 0.075 + 1e-9 and abs(my[r] - yc) <= 0.075 + 1e-9
    cls = d.post_process(logits * 10.0)
    assert cls.shape == (1, 200, 400) and cls.dtype == torch.int64
    row, col = int((-5 + 15) / 0.15), int((10 + 30) / 0.15)  # the cell holding (10, -5)
    assert (row, col) == (66, 266) and cls[0, row, col].item() == 1
    marked = (cls[0] == 1).nonzero().double()
    assert mx[marked[:, 1].long()].mean().item() == pytest.approx(xc, abs=0.075)
    assert my[marked[:, 0].long()].mean().item() == pytest.approx(yc, abs=0.075)


def test_loss_equals_hand_computation_on_tiny_grid():
    """4x4 BEV grid of 1 m cells, 2x2 map of 1 m cells: the map cells are the central BEV cells
    (same centres), so the loss is the hand-computed weighted CE times task_weight."""
    d = BevSegDecoder(
        "seg",
        nn.Identity(),
        FCNTarget(),
        CrossEntropyLossV2("decode", "mean", -1, False, [1.0, 5.0, 5.0, 5.0]),
        FCNDecoder(1),
        bev_size=(2.0, 2.0, 1.0),
        task_size=(1.0, 1.0, 1.0),
        task_weight=10.0,
    )
    logits = torch.full((1, 4, 4, 4), 7.0)  # outside the map: must not matter
    cells = {  # map cell (row, col) -> its BEV cell's logits
        (0, 0): [2.0, 0.0, 0.5, 0.0],
        (0, 1): [0.0, 1.0, 0.5, 0.0],
        (1, 0): [0.0, 0.0, 0.5, 0.0],
        (1, 1): [1.0, 0.0, 0.5, 0.0],
    }
    for (r, c), z in cells.items():
        logits[0, :, 1 + r, 1 + c] = torch.tensor(z)
    gt = torch.tensor([[[0, 1], [-1, 3]]])
    loss = d.loss(logits, {"gt_seg_mask": gt})
    assert list(loss) == ["seg_loss"]

    def nll(z: list[float], t: int) -> float:
        return math.log(sum(math.exp(v) for v in z)) - z[t]

    l00, l01, l11 = nll(cells[0, 0], 0), nll(cells[0, 1], 1), nll(cells[1, 1], 3)
    hand = 10.0 * (1 * l00 + 5 * l01 + 5 * l11) / (1 + 5 + 5)
    assert loss["seg_loss"].item() == pytest.approx(hand, rel=1e-6)
    assert d.post_process(logits).tolist() == [[[0, 1], [2, 0]]]


def test_seed_config_forward_loss_post_process_recipe_sizes():
    torch.manual_seed(0)
    d = build_from_registry(seed_cfg())
    assert isinstance(d.head, DepthwiseSeparableFCNHead) and d.map_shape == (200, 400)
    feats = [torch.randn(2, 48, 128, 128), torch.randn(2, 48, 64, 64)]
    out = d(feats)
    assert out.shape == (2, 4, 128, 128)
    gt = torch.randint(0, 4, (2, 200, 400))
    loss = d.loss(out, {"gt_seg_mask": gt})["bev_seg_loss"]
    # near-zero logits at init: loss ~ 10 * log(4)
    assert loss.item() == pytest.approx(10 * math.log(4), rel=0.01)
    loss.backward()
    grads = [p.grad for p in d.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    d.eval()
    with torch.no_grad():
        logits = d(feats)
    cls = d.post_process(logits, {"gt_seg_mask": gt})
    assert cls.shape == (2, 200, 400) and cls.dtype == torch.int64
    assert torch.equal(cls, d.to_map(logits).argmax(1))
    assert 0 <= int(cls.min()) and int(cls.max()) <= 3


def test_bce_variant_and_fcn_decoder_background():
    d = build_from_registry(seed_cfg(use_bce=True))
    logits = torch.full((1, 4, 128, 128), -3.0)
    logits[0, 2, 60:70, :] = 2.0
    cls = d.post_process(logits)
    assert set(cls.unique().tolist()) == {-1, 2}  # bg_cls=-1 where no sigmoid reaches 0.5
    loss = d.loss(logits, {"gt_seg_mask": torch.zeros(1, 200, 400, dtype=torch.long)})
    assert loss["bev_seg_loss"].item() > 0
    dec = FCNDecoder(upsample_output_scale=2, use_bce=False)
    assert dec(torch.randn(2, 3, 5, 6)).shape == (2, 10, 12)


def test_fcn_target_resizes_and_squeezes():
    t = FCNTarget()
    out = t(torch.zeros(2, 1, 8, 6, dtype=torch.long), torch.randn(2, 4, 4, 3))
    assert out["pred"].shape == (2, 4, 8, 6) and out["target"].shape == (2, 8, 6)


def test_head_dropout_only_in_training_and_bad_input():
    head = DepthwiseSeparableFCNHead(1, 8, 8, 3, dropout_ratio=0.5, num_convs=1)
    x = [torch.randn(1, 4, 6, 6), torch.randn(2, 8, 6, 6)]
    head.eval()
    assert torch.equal(head(x), head(x))
    head.train()
    assert not torch.equal(head(x), head(x))
    with pytest.raises(ValueError, match=r"expects \(B, 8, H, W\) features at input_index 1"):
        head([x[1], x[0]])
    with pytest.raises(IndexError, match="input_index 1 out of range for 1"):
        head([x[1]])


def test_bad_config_and_batch_errors():
    def make(task_size):
        return BevSegDecoder(
            "s", nn.Identity(), FCNTarget(), CrossEntropyLossV2(), FCNDecoder(1), BEV, task_size
        )

    with pytest.raises(ValueError, match="must lie inside bev_size"):
        make((15, 60, 0.15))
    with pytest.raises(ValueError, match="not a whole number of cells"):
        make((15, 30, 0.7))
    d = make(MAP)
    logits = torch.zeros(1, 4, 128, 128)
    with pytest.raises(KeyError, match="no 'gt_seg_mask'"):
        d.loss(logits, {})
    with pytest.raises(ValueError, match=r"gt_seg_mask must be \(B, 200, 400\)"):
        d.loss(logits, {"gt_seg_mask": torch.zeros(1, 400, 200, dtype=torch.long)})
    with pytest.raises(ValueError, match="head output must be"):
        d.post_process(torch.zeros(4, 128, 128))
