"""BiFPN and FastSCNNNeck (float): the BEV seed's shapes, the node graph, extra levels,
pyramid pooling geometry, gradients and argument errors."""

import pytest
import torch
import torch.nn.functional as F

from hat.models.necks import BiFPN, FastSCNNNeck
from hat.models.necks.bifpn import BIFPN_NODES
from hat.models.necks.pyramid_pooling import BinAvgPool, bin_pool_geometry
from hat.registry import build_from_registry
from hat.utils.op_count import count_ops

B0_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}
BN = dict(eps=1e-5, momentum=0.1)


def seed_bifpn(**over):
    """The BEV encoder's neck (configs/bev/bev_ipm_efficientnetb0_multitask_nuscenes.py)."""
    cfg = dict(
        type="BiFPN", in_strides=[2, 4, 8, 16, 32], out_strides=[2, 4, 8, 16, 32],
        stride2channels=dict(B0_CHANNELS), out_channels=48, num_outs=5, stack=3,
        start_level=0, end_level=-1, fpn_name="bifpn_sum",
    )  # fmt: skip
    cfg.update(over)
    return cfg


def feats(h, w, channels=B0_CHANNELS, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, -(-h // s), -(-w // s), generator=g) for s, c in channels.items()]


def test_seed_bev_encoder_shapes():
    """EfficientNet-B0 (64 input channels) + the seed's BiFPN on a 128x128 BEV grid."""
    encoder = torch.nn.Sequential(
        build_from_registry(
            dict(
                type="efficientnet", bn_kwargs=BN, model_type="b0", num_classes=1000,
                include_top=False, activation="relu", use_se_block=False, in_channels=64,
            )
        ),
        build_from_registry(seed_bifpn()),
    ).eval()  # fmt: skip
    with torch.no_grad():
        outs = encoder(torch.randn(1, 64, 128, 128))
    assert [tuple(o.shape) for o in outs] == [(1, 48, 128 // s, 128 // s) for s in B0_CHANNELS]
    neck = encoder[1]
    assert len(neck.layers) == 3 and all(len(layer.nodes) == 8 for layer in neck.layers)
    # layer 0 maps every backbone width to 48 with a 1x1 conv + BN per use (levels 1-4 are
    # read by a top-down and a bottom-up node: 9 uses); later layers none
    assert sum(r.lateral is not None for n in neck.layers[0].nodes for r in n.resample) == 9
    assert sum(r.lateral is not None for n in neck.layers[2].nodes for r in n.resample) == 0
    # parameters: 9 laterals (1x1 + BN) + 3 x 8 nodes (3x3 depthwise, 1x1 + BN), no bias
    laterals = sum(c * 48 + 96 for c in (112, 320, 40, 24, 16, 24, 40, 112, 320))
    assert sum(p.numel() for p in neck.parameters()) == laterals + 24 * (9 * 48 + 48 * 48 + 96)
    assert neck.out_channels == [48] * 5 and neck.out_strides == [2, 4, 8, 16, 32]


def test_node_graph_top_down_then_bottom_up():
    levels = [level for level, _ in BIFPN_NODES]
    assert levels == [3, 2, 1, 0, 1, 2, 3, 4]
    for i, (level, inputs) in enumerate(BIFPN_NODES):
        offset, sampling = inputs[0]
        assert sampling == "keep" and offset == level  # the first input is the level's own
        # inputs exist before the node (offsets 0-4 inputs, 5 + j node j)
        assert all(o < 5 + i for o, _ in inputs)


def test_sum_fusion_is_relu_of_the_plain_sum():
    """A node with identity-like convs computes relu(keep + up(coarse))."""
    neck = BiFPN([2, 4, 8, 16, 32], [2], {s: 4 for s in B0_CHANNELS}, 4, stack=1).eval()
    node = neck.layers[0].nodes[3]  # level 0: input 0 + up(node 2)
    with torch.no_grad():
        node.dw.conv.weight.zero_()
        node.dw.conv.weight[:, 0, 1, 1] = 1.0
        node.pw.conv.weight.copy_(torch.eye(4)[:, :, None, None])
    a, b = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)
    fake = [a, None, None, None, None, None, None, b]
    with torch.no_grad():
        y = node(fake)
    up = F.interpolate(b, size=(8, 8), mode="bilinear", align_corners=False)
    bn = node.pw.norm
    expected = torch.relu(a + up) / torch.sqrt(torch.tensor(1.0 + bn.eps))
    assert torch.allclose(y, expected, atol=1e-6)


def test_extra_levels_and_selected_outputs():
    # HAT's detection use: strides 4..32 from the backbone, stride 64 made by pooling
    neck = BiFPN([2, 4, 8, 16, 32], [8, 16, 32, 64], B0_CHANNELS, 16, stack=2, start_level=1)
    assert neck.pyramid_strides == [4, 8, 16, 32, 64] and len(neck.extra_downsamples) == 1
    with torch.no_grad():
        outs = neck.eval()(feats(64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, 16, 8, 12),
        (1, 16, 4, 6),
        (1, 16, 2, 3),
        (1, 16, 1, 2),
    ]
    # per-stride widths
    neck = BiFPN([4, 8, 16, 32], [4, 64], {4: 24, 8: 40, 16: 112, 32: 320},
                 {4: 8, 8: 16, 16: 24, 32: 32, 64: 40})  # fmt: skip
    with torch.no_grad():
        outs = neck.eval()(feats(64, 64, {4: 24, 8: 40, 16: 112, 32: 320}))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 40, 1, 1)]


def test_odd_sizes_and_gradients():
    neck = build_from_registry(seed_bifpn(out_channels=8, stack=2))
    xs = [x.requires_grad_() for x in feats(50, 70, batch=2)]
    outs = neck(xs)
    assert [tuple(o.shape[-2:]) for o in outs] == [(25, 35), (13, 18), (7, 9), (4, 5), (2, 3)]
    sum(o.square().mean() for o in outs).backward()
    assert all(float(x.grad.abs().sum()) > 0 for x in xs)
    assert all(p.grad is not None for p in neck.parameters())


def test_bifpn_macs_are_the_convs():
    neck = BiFPN([2, 4, 8, 16, 32], [2], B0_CHANNELS, 8, stack=1).eval()
    macs = count_ops(neck, feats(32, 32))["Global"]
    hw = {s: (32 // s) ** 2 for s in B0_CHANNELS}
    lateral = {0: [16], 1: [24, 24], 2: [40, 40], 3: [112, 112], 4: [320, 320]}
    expected = sum(hw[2 ** (lvl + 1)] * c * 8 for lvl, cs in lateral.items() for c in cs)
    node_levels = [level for level, _ in BIFPN_NODES]
    # laterals run on the input map (before any resize); "down" inputs are nodes (no lateral)
    expected += sum(hw[2 ** (lvl + 1)] * (9 * 8 + 8 * 8) for lvl in node_levels)
    assert macs == expected


def test_bifpn_argument_errors():
    def make(**over):
        cfg = seed_bifpn(**over)
        cfg.pop("type")
        return BiFPN(**cfg)

    with pytest.raises(ValueError, match="fpn_name"):
        make(fpn_name="bifpn_fa")
    with pytest.raises(ValueError, match="num_outs must be 5"):
        make(num_outs=4)
    with pytest.raises(ValueError, match="no entry for in_strides"):
        make(stride2channels={2: 16})
    with pytest.raises(ValueError, match="out_strides"):
        make(out_strides=[64])
    with pytest.raises(ValueError, match="upsample_mode"):
        make(upsample_mode="bicubic")
    with pytest.raises(ValueError, match="expected 5 features"):
        make()(feats(64, 64)[:4])


def seed_fast_scnn():
    return dict(
        type="FastSCNNNeck", in_channels=[40, 320], feat_channels=[64, 64], indexes=[-3, -1],
        bn_kwargs=BN,
    )  # fmt: skip


def test_fast_scnn_neck_seed_shapes():
    """The BEV image neck at the seed's 512x960 views: fused 64 channels at stride 8."""
    neck = build_from_registry(seed_fast_scnn()).eval()
    with torch.no_grad():
        outs = neck(feats(512, 960))
    assert [tuple(o.shape) for o in outs] == [(1, 40, 64, 120), (1, 64, 16, 30), (1, 64, 64, 120)]
    assert [p.bins for p in neck.extract.pools] == [1, 2, 4, 8]
    # pyramid pooling: 4 x (1x1 320 -> 16 + BN), 3x3 (4 * 16 + 320 -> 64) + BN; fusion:
    # 3x3 40 -> 64 + BN, two (depthwise 3x3 + BN, 1x1 64 -> 64 + BN)
    ppm = 4 * (320 * 16 + 32) + 9 * 384 * 64 + 128
    fusion = 9 * 40 * 64 + 128 + 2 * (9 * 64 + 128 + 64 * 64 + 128)
    assert sum(p.numel() for p in neck.parameters()) == ppm + fusion


def test_fast_scnn_neck_gradients_and_errors():
    neck = FastSCNNNeck([40, 320], [16, 16], [-3, -1], bn_kwargs=BN)
    xs = [x.requires_grad_() for x in feats(256, 256, batch=2)]
    outs = neck(xs)
    outs[-1].square().mean().backward()
    assert float(xs[2].grad.abs().sum()) > 0 and float(xs[4].grad.abs().sum()) > 0
    assert xs[3].grad is None  # not an indexed input
    with pytest.raises(ValueError, match="same length"):
        FastSCNNNeck([40, 320], [64], [-3, -1])
    with pytest.raises(ValueError, match="feat_channels must be equal"):
        FastSCNNNeck([40, 320], [32, 64], [-3, -1])
    with pytest.raises(ValueError, match="out of range"):
        neck(xs[:1])
    with pytest.raises(ValueError, match="cannot be pooled into 8 bins"):
        neck.eval()(feats(128, 256))  # a 4 x 8 stride-32 map
    small = FastSCNNNeck([40, 320], [16, 16], [-3, -1], bn_kwargs=BN, pool_bins=(1, 2, 4))
    with torch.no_grad():
        outs = small.eval()(feats(128, 256))
    assert [p.bins for p in small.extract.pools] == [1, 2, 4]
    assert tuple(outs[1].shape) == (1, 16, 4, 8) and tuple(outs[2].shape) == (1, 16, 16, 32)


def test_bin_pool_geometry_is_hat_rule():
    # stride = n // bins, kernel = n - (bins - 1) * stride: windows overlap when not divisible
    assert bin_pool_geometry(16, 8) == (2, 2)
    assert bin_pool_geometry(30, 8) == (9, 3)
    assert bin_pool_geometry(30, 1) == (30, 30)
    pool = BinAvgPool(4)
    x = torch.arange(2 * 10 * 13, dtype=torch.float32).reshape(1, 2, 10, 13)
    y = pool(x)
    assert y.shape == (1, 2, 4, 4)
    # bin (1, 2): rows 2..5 (kernel 10 - 3*2 = 4, stride 2), cols 6..9 (kernel 13 - 9 = 4)
    assert float(y[0, 1, 1, 2]) == pytest.approx(float(x[0, 1, 2:6, 6:10].mean()))
