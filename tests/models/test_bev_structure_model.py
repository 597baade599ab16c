"""BevStructure on the tiny stage-chain config's model (real EfficientNet, FastSCNNNeck,
WrappingTransformer, BevEncoder, map-segmentation and CenterPoint decoders): training losses and
gradients, eval outputs with the deploy input points, post-processing, BEV augmentation aligned
with the sampled features, input errors."""

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_bev_structure import IMG_HW, VIEWS, camera_rig

from hat.data.transforms.bev_rotate import BevRotate
from hat.models.structures.bev_points import BevIpmPoints
from hat.models.structures.bev_structure import BevStructure
from hat.quantization.output_order import named_outputs
from hat.registry import build_from_registry
from hat.utils.run_config import RunConfig

# -- the whole structure on the tiny stage-chain config's model (real parts) -------------------

TINY_CFG = Path(__file__).resolve().parents[1] / "tools" / "tiny_bev_stages_config.py"


@pytest.fixture(scope="module")
def tiny_cfg():
    return RunConfig.load(str(TINY_CFG), stage="float")


def build_tiny(cfg, **view_transformer):
    spec = copy.deepcopy(cfg.model_spec())
    spec["view_transformer"].update(view_transformer)
    torch.manual_seed(0)
    return build_from_registry(spec, "model")


def tiny_batch(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    intrinsics, sensor2ego = camera_rig(batch)
    boxes, labels = [], []
    for b in range(batch):
        n = 3 + b
        box = torch.zeros(n, 9)
        box[:, :2] = torch.rand(n, 2, generator=g) * 16 - 8
        box[:, 2] = 0.8
        box[:, 3:6] = torch.tensor([1.8, 4.2, 1.6])
        box[:, 6] = torch.rand(n, generator=g) * 6 - 3
        box[:, 7:9] = torch.randn(n, 2, generator=g)
        boxes.append(box)
        labels.append(torch.arange(n) % 10)
    mask = torch.zeros(batch, 20, 40, dtype=torch.int64)
    mask[:, 9:11, 20:] = 1
    mask[:, 2:5, 25:30] = 2
    mask[:, 16:18, :] = 3
    return dict(
        img=torch.randn(batch * VIEWS, 3, *IMG_HW, generator=g),
        intrinsics=intrinsics,
        sensor2ego=sensor2ego,
        img_aug=torch.eye(3, dtype=torch.float64).expand(batch, VIEWS, 3, 3).clone(),
        gt_boxes=boxes,
        gt_labels=labels,
        gt_seg_mask=mask,
    )


def test_training_forward_losses_and_gradients(tiny_cfg):
    model = build_tiny(tiny_cfg).train()
    np.random.seed(0)
    out = model(tiny_batch())
    losses = out["losses"]
    det = [f"bev_det_task{t}_{k}_loss" for t in range(6) for k in ("heatmap", "bbox")]
    assert sorted(losses) == sorted(["bev_seg_loss"] + det)
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values()), losses
    assert losses["bev_seg_loss"] > 0 and losses["bev_det_task0_heatmap_loss"] > 0
    assert out["bev_seg"].shape == (2, 4, 16, 16) and len(out["bev_det"]) == 6
    sum(losses.values()).backward()
    for part in ("backbone", "neck", "bev_encoder.backbone", "bev_decoders.0.head",
                 "bev_decoders.1.head"):  # fmt: skip
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(part + ".")]
        assert grads and all(g is not None for g in grads[:5]), part
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0, part


def test_eval_raw_heads_deploy_points_and_post_process(tiny_cfg):
    model = build_tiny(tiny_cfg).eval()
    data = tiny_batch()
    with_points = BevIpmPoints(tiny_cfg.require("bev_size", "BEV grid"), 8)(data)
    assert with_points["points"].shape == (12, 16, 16, 2)
    with torch.no_grad():
        outs = model(data)
        deploy = model({"img": data["img"], "points": with_points["points"]})
    assert sorted(outs) == ["bev_det", "bev_seg"] and "losses" not in outs
    for (name, a), (_, b) in zip(named_outputs(outs), named_outputs(deploy)):
        assert torch.equal(a, b), name
    names = [n for n, _ in named_outputs(outs)]
    assert names[0] == "bev_seg" and names[1:7] == [
        f"bev_det_0.{k}" for k in ("heatmap", "reg", "height", "dim", "rot", "vel")
    ]
    preds = model.post_process(outs, data)
    assert preds["bev_seg"].shape == (2, 20, 40) and preds["bev_seg"].dtype == torch.int64
    assert len(preds["bev_det"]) == 2
    for p in preds["bev_det"]:
        assert p["bboxes"].shape[1] == 9 and len(p["scores"]) == len(p["labels"])
    # the configs' post-processing outside the model decodes the same
    spec = copy.deepcopy(tiny_cfg.model_spec()["bev_decoders"])
    other = build_from_registry(dict(type="BevPostProcess", bev_decoders=spec))(outs, data)
    assert torch.equal(other["bev_seg"], preds["bev_seg"])
    for a, b in zip(other["bev_det"], preds["bev_det"]):
        assert torch.equal(a["bboxes"], b["bboxes"]) and torch.equal(a["labels"], b["labels"])


def test_rotation_moves_sampling_points_and_features_with_the_targets(tiny_cfg):
    """A 90 deg BEV rotation maps cells onto cells: the augmented points and BEV features are
    the unaugmented ones permuted, and each box's augmented cell sees its original cell."""
    model = build_tiny(tiny_cfg, drop_prob=0.0).train()
    for m in model.modules():  # batch statistics would mix the two passes
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    bev_maps = []
    model.view_transformer.register_forward_hook(lambda m, i, o: bev_maps.append((i[1], o)))
    data = tiny_batch()
    model.bev_transforms = []
    model(data)
    model.bev_transforms = [BevRotate((12.8, 12.8, 1.6), rot=(math.pi / 2, math.pi / 2))]
    model(data)
    (pts, bev), (pts_rot, bev_rot) = bev_maps
    n = 16
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    # cell (i, j) of the rotated scene shows the original point of cell (n - 1 - j, i)
    torch.testing.assert_close(pts_rot, pts[:, n - 1 - j, i], atol=1e-4, rtol=0)
    seen = (pts[:6] != -2.0).any(dim=-1)  # sample 0: cells each camera sees
    assert 0.2 < seen.float().mean() < 0.35 and seen.any(dim=0).float().mean() > 0.9
    up = bev.shape[-1]  # after the x2 upsampling, which commutes with the rotation
    iu, ju = torch.meshgrid(torch.arange(up), torch.arange(up), indexing="ij")
    torch.testing.assert_close(bev_rot, bev[:, :, up - 1 - ju, iu], atol=1e-5, rtol=1e-5)
    assert bev.abs().sum() > 0
    for box in data["gt_boxes"][0]:
        x, y = float(box[0]), float(box[1])
        col, row = int((x + 12.8) // 1.6), int((y + 12.8) // 1.6)
        col_r, row_r = int((-y + 12.8) // 1.6), int((x + 12.8) // 1.6)  # R90 (x, y) = (-y, x)
        assert torch.allclose(pts_rot[:6, row_r, col_r], pts[:6, row, col], atol=1e-4)


def test_bad_inputs_name_the_keys(tiny_cfg):
    model = build_tiny(tiny_cfg).eval()
    data = tiny_batch()
    with pytest.raises(KeyError, match="'img'"):
        model({"points": torch.zeros(12, 16, 16, 2)})
    with pytest.raises(ValueError, match=r"data\['img'\] must be \(B\*6"):
        model({"img": torch.zeros(5, 3, 64, 96)})
    with pytest.raises(KeyError, match=r"\['intrinsics', 'sensor2ego'\]"):
        model({"img": data["img"]})
    with pytest.raises(ValueError, match=r"data\['points'\] must be \(12, 16, 16, 2\)"):
        model({"img": data["img"], "points": torch.zeros(12, 8, 8, 2)})
    with pytest.raises(ValueError, match="unique name"):
        BevStructure(model.backbone, model.neck, model.view_transformer, model.bev_encoder,
                     [model.bev_decoders[0], model.bev_decoders[0]])  # fmt: skip
