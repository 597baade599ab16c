"""A model the model checker must reject: a standalone BatchNorm2d after a plain conv and an
average pool (not mapped to integer modules)."""

import torch
from torch import nn

from hat.nn import ConvModule2d, DeQuantStub, QuantStub


class BadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.conv = ConvModule2d(6, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AvgPool2d(2)
        self.dequant = DeQuantStub()

    def forward(self, data):
        return self.dequant(self.pool(self.bn(self.conv(self.quant(data["img"])))))


model = dict(type=BadNet)
deploy_inputs = dict(img=torch.randn(1, 6, 16, 16))
ckpt_dir = "/tmp/hat_bad_checker"
