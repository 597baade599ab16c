"""A tiny PwcNet config for tool tests (calops, infer)."""

import torch
from torch import nn

out_channels = [4, 6, 8, 8, 8, 8]
ckpt_dir = "/tmp/hat_tiny_pwcnet_ckpt"

model = dict(
    type="PwcnetTask",
    backbone=dict(
        type="PwcNet",
        out_channels=out_channels,
        use_bn=True,
        bn_kwargs={},
        pyr_lvls=6,
        flow_pred_lvl=2,
        act_type=nn.ReLU(),
    ),
    head=dict(
        type="PwcnetHead",
        in_channels=out_channels,
        bn_kwargs={},
        use_bn=True,
        md=2,
        use_res=True,
        use_dense=True,
        pyr_lvls=6,
        flow_pred_lvl=2,
        act_type=nn.ReLU(),
        decoder_channels=[8, 8, 8, 4, 4],
        context_channels=[8, 8, 8, 8, 4, 4],
    ),
    loss=dict(type="LnNormLoss", norm_order=2, power=1, reduction="mean"),
    loss_weights=[0.005, 0.01, 0.02, 0.08, 0.32],
)

deploy_inputs = dict(img=torch.randn((1, 6, 64, 128)))
infer_cfg = dict(type="FlowInfer", pad_multiple=64)
