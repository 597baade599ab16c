"""calops and infer as users run them (subprocesses on a tiny config)."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CFG = Path(__file__).with_name("tiny_pwcnet_config.py")


def run_tool(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_calops_tiny_config_counts_correlation():
    res = run_tool(
        "tools/calops.py",
        "--config",
        str(CFG),
        "-v",
        "--depth",
        "4",
        "--input-shape",
        "1,6,512,512",
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    params = float(next(s for s in lines if s.startswith("Params:")).split()[1])
    flops = float(next(s for s in lines if s.startswith("FLOPs:")).split()[1])
    assert 0.05 < params < 0.2 and flops > 0
    corr = [s for s in lines if s.strip().startswith("corr ")]
    assert len(corr) == 5 and all(float(s.split()[-1]) > 0 for s in corr)


def test_calops_counts_match_hand_count():
    from hat.nn import ConvModule2d, Correlation
    from hat.utils.op_count import count_ops

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = ConvModule2d(3, 4, 3)
            self.corr = Correlation(1)

        def forward(self, data):
            y = self.conv(data["img"])
            return self.corr(y, y)

    macs = count_ops(Net(), {"img": torch.randn(1, 3, 8, 8)})
    conv, corr = 8 * 8 * 4 * 3 * 9, 9 * 4 * 8 * 8
    assert macs["Net.conv"] == conv and macs["Net.corr"] == corr
    assert macs["Global"] == macs["Net"] == conv + corr


def test_calops_input_shape_and_errors():
    res = run_tool("tools/calops.py", "--config", str(CFG), "--input-shape", "1,6,128,128")
    assert res.returncode == 0, res.stderr
    assert "img=(1, 6, 128, 128)" in res.stdout
    res = run_tool("tools/calops.py", "--config", "no/such/config.py")
    assert res.returncode != 0
    assert "config file not found" in res.stderr and "Traceback" not in res.stderr
    res = run_tool("tools/calops.py", "--config", str(CFG), "--input-shape", "1,six")
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_calops_opts_and_missing_deploy_inputs(tmp_path):
    def params(res) -> float:
        assert res.returncode == 0, res.stderr
        return float(next(s for s in res.stdout.splitlines() if s.startswith("Params:")).split()[1])

    # --opts reaches the model: a search range of 1 instead of 2 shrinks the cost volumes
    # (25 -> 9 channels) and with them the decoders' input convolutions
    full = params(run_tool("tools/calops.py", "--config", str(CFG)))
    narrow = params(
        run_tool("tools/calops.py", "--config", str(CFG), "--opts", "model.head.md", "1")
    )
    assert narrow < full
    text = CFG.read_text().replace("deploy_inputs = ", "example_inputs = ")
    cfg = tmp_path / "no_deploy_inputs.py"
    cfg.write_text(text)
    res = run_tool("tools/calops.py", "--config", str(cfg))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"config {cfg} has no 'deploy_inputs'" in res.stderr
    assert "pass --input-shape" in res.stderr


@pytest.fixture()
def pair(tmp_path):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8), (7, 7), 2)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "b.png"), np.roll(img, 2, axis=1))
    return tmp_path


def test_infer_writes_outputs(pair, tmp_path):
    sys.path.insert(0, str(ROOT))
    from hat.registry import build_from_registry
    from hat.utils.run_config import RunConfig
    from hat.visualize import read_flo

    model = build_from_registry(RunConfig.load(str(CFG)).model_spec())
    ckpt = tmp_path / "ck.pth.tar"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    out = tmp_path / "out"
    inputs = f"img1:{pair / 'a.png'},img2:{pair / 'b.png'}"
    res = run_tool(
        "tools/infer.py",
        "--config",
        str(CFG),
        "--model-inputs",
        inputs,
        "--save-path",
        str(out),
        "--ckpt",
        str(ckpt),
    )
    assert res.returncode == 0, res.stderr
    assert {"flow.png", "flow.flo", "panel.png"} <= set(os.listdir(out))
    assert read_flo(out / "flow.flo").shape == (70, 90, 2)
    assert cv2.imread(str(out / "panel.png")).shape == (70, 270, 3)


@pytest.mark.parametrize(
    "inputs,message",
    [
        ("img1:{a}", "missing img2"),
        ("img1={a},img2:{a}", "bad --model-inputs"),
        ("img1:{a},img2:/no/such.png", "file not found"),
        ("img1:{a},img3:{a}", "unknown --model-inputs name"),
    ],
)
def test_infer_input_errors(pair, inputs, message):
    spec = inputs.format(a=pair / "a.png")
    res = run_tool(
        "tools/infer.py",
        "--config",
        str(CFG),
        "--model-inputs",
        spec,
        "--save-path",
        str(pair / "o"),
        "--no-ckpt",
    )
    assert res.returncode != 0
    assert message in res.stderr and "Traceback" not in res.stderr


def test_infer_missing_config_and_checkpoint(pair):
    spec = f"img1:{pair / 'a.png'},img2:{pair / 'b.png'}"
    res = run_tool(
        "tools/infer.py",
        "--config",
        "nope.py",
        "--model-inputs",
        spec,
        "--save-path",
        str(pair / "o"),
    )
    assert res.returncode != 0 and "config file not found" in res.stderr
    res = run_tool(
        "tools/infer.py",
        "--config",
        str(CFG),
        "--model-inputs",
        spec,
        "--save-path",
        str(pair / "o"),
        "--ckpt",
        str(pair / "none.pth.tar"),
    )
    assert res.returncode != 0 and "checkpoint not found" in res.stderr
