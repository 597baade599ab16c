"""uint8 images from ``ToTensor``: the model input of every data path of the PwcNet and StereoNet
configs is bit-identical to the float32 ``ToTensor`` path it replaces."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hat.data.codecs.flyingchairs import encode_pair
from hat.data.codecs.sceneflow import encode_sample
from hat.data.collates import collate_2d
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.transforms import Compose, SegRandomAffine, ToTensor
from hat.registry import build_from_registry
from hat.utils.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PWCNET = "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs.py"
STEREONET = "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py"
H, W, N = 136, 208, 8
CROP = (128, 192)  # multiples of 64: the coarsest flow target is 1/64
# every loader of the configs, and the batch processor that feeds its batches to the model
LOADERS = {
    "data_loader": "batch_processor",
    "val_data_loader": "val_batch_processor",
    "calibration_data_loader": "val_batch_processor",
    "align_bpu_data_loader": "val_batch_processor",
}


def _images(rng: np.random.Generator) -> list[np.ndarray]:
    # smooth content plus noise, the whole 0..255 range (clamping in YUV is exercised)
    ys, xs = np.mgrid[0:H, 0:W]
    base = np.stack([xs * 255 / W, ys * 255 / H, (xs + ys) * 255 / (H + W)], -1)
    return [np.clip(base + rng.normal(0, 40, (H, W, 3)), 0, 255).astype(np.uint8) for _ in range(2)]


def _write(path: str, values: list[dict]) -> str:
    with LmdbWriter(path) as writer:
        for v in values:
            writer.append(v)
    return path


@pytest.fixture(scope="module")
def lmdbs(tmp_path_factory) -> dict[str, str]:
    rng = np.random.default_rng(11)
    root = tmp_path_factory.mktemp("uint8_pipeline")
    chairs, stereo = [], []
    for i in range(N):
        img1, img2 = _images(rng)
        flow = rng.normal(0, 3, (H, W, 2)).astype(np.float32)
        chairs.append(encode_pair(img1, img2, flow, i + 1))
        left, right = _images(rng)
        disp = rng.uniform(0, 40, (H, W)).astype(np.float32)
        stereo.append(encode_sample(left, right, disp, f"left/{i:04d}.png"))
    return {
        PWCNET: _write(str(root / "chairs_lmdb"), chairs),
        STEREONET: _write(str(root / "stereo_lmdb"), stereo),
    }


def _dataset_cfg(dataset: dict, data_path: str, float_img: bool) -> dict:
    cfg = copy.deepcopy(dict(dataset))
    if cfg["type"].endswith("FromImage"):  # read the same samples from the packed LMDB
        keep = ("transforms", "to_rgb")
        cfg = {"type": cfg["type"][: -len("FromImage")], **{k: cfg[k] for k in keep if k in cfg}}
    cfg["data_path"] = data_path
    transforms = []
    for t in cfg.get("transforms") or []:
        t = dict(t)
        if t["type"] == "RandomCrop":
            t["size"] = CROP  # the synthetic images are smaller than the recipe's crop
        if t["type"] == "ToTensor" and float_img:
            t["img_dtype"] = "float32"  # the float32 ToTensor this change replaced
        transforms.append(t)
    cfg["transforms"] = transforms
    return cfg


def _model_inputs(cfg, loader_key: str, data_path: str, float_img: bool) -> list[dict]:
    """Every batch of ``cfg[loader_key]`` after the batch processor's transforms."""
    loader_cfg = cfg[loader_key]
    dataset = build_from_registry(_dataset_cfg(loader_cfg["dataset"], data_path, float_img))
    specs = cfg[LOADERS[loader_key]].get("batch_transforms") or []
    batch_transforms = build_from_registry(list(specs))
    torch.manual_seed(5)
    loader = DataLoader(dataset, batch_size=4, shuffle=False, collate_fn=collate_2d)
    out = []
    for batch in loader:
        before = batch["img"].dtype
        for t in batch_transforms:
            batch = t(batch)
        batch["collated_img_dtype"] = before
        out.append(batch)
    return out


def _assert_same(new, old, path: str) -> None:
    if isinstance(old, torch.Tensor):
        assert isinstance(new, torch.Tensor) and new.dtype == old.dtype, path
        assert torch.equal(new, old), f"{path}: values differ"
    elif isinstance(old, (list, tuple)):
        assert len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old)):
            _assert_same(a, b, f"{path}[{i}]")
    else:
        assert new == old, path


@pytest.mark.parametrize("config", [PWCNET, STEREONET])
def test_model_input_bit_identical_to_float_to_tensor(config, lmdbs):
    cfg = load_config(os.path.join(ROOT, config))
    keys = [k for k in LOADERS if k in cfg]
    assert {"data_loader", "val_data_loader"} <= set(keys)
    for key in keys:
        new = _model_inputs(cfg, key, lmdbs[config], float_img=False)
        old = _model_inputs(cfg, key, lmdbs[config], float_img=True)
        assert len(new) == len(old) == N // 4
        for b_new, b_old in zip(new, old):
            assert b_old["collated_img_dtype"] == torch.float32
            assert b_new["img"].dtype == torch.float32  # what the model sees
            assert b_new["img"].shape[1] == 6
            for name in b_old:
                if name != "collated_img_dtype":
                    _assert_same(b_new[name], b_old[name], f"{config} {key} {name}")
        dtypes = {b["collated_img_dtype"] for b in new}
        warped = any(t["type"] == "SegRandomAffine" for t in cfg[key]["dataset"]["transforms"])
        # resampled images stay float32 in the workers; every other path ships uint8
        assert dtypes == {torch.float32 if warped else torch.uint8}, (key, dtypes)


def test_warped_train_images_are_not_rounded(lmdbs):
    """The PwcNet train pipeline warps bilinearly after ToTensor: its images stay float32
    (fractional values, as before), while an explicit uint8 ToTensor rounds them."""
    cfg = load_config(os.path.join(ROOT, PWCNET))
    dataset_cfg = _dataset_cfg(cfg["data_loader"]["dataset"], lmdbs[PWCNET], float_img=False)
    pipeline = Compose(dataset_cfg["transforms"])
    to_tensor = [t for t in pipeline.transforms if isinstance(t, ToTensor)]
    assert len(to_tensor) == 1 and to_tensor[0].img_dtype == "float32"
    ds = build_from_registry(dataset_cfg)
    torch.manual_seed(0)
    imgs = [ds[i]["img"] for i in range(N)]
    assert all(i.dtype == torch.float32 for i in imgs)
    assert any(not torch.equal(i, i.round()) for i in imgs)  # some sample was resampled
    sample = ToTensor(img_dtype="uint8")(build_from_registry(dict(dataset_cfg, transforms=None))[0])
    warp = SegRandomAffine(scale=(1.1, 1.1), interpolation="bilinear")
    assert warp.resamples_img and warp(sample)["img"].dtype == torch.uint8
    assert not SegRandomAffine(translate=(0.1, 0.1)).resamples_img  # nearest: exact on uint8


def test_collate_promotes_and_yuv_makes_float32():
    from hat.data.transforms import BgrToYuv444

    u8 = torch.tensor([[[0, 255]], [[128, 7]], [[200, 13]]], dtype=torch.uint8)  # (3, 1, 2)
    batch = collate_2d([{"img": u8}, {"img": u8.float() + 0.5}])
    assert batch["img"].dtype == torch.float32
    assert batch["img"][0].tolist() == u8.float().tolist()
    assert batch["img"][1].tolist() == (u8.float() + 0.5).tolist()
    yuv_u8 = BgrToYuv444(rgb_input=True)({"img": u8[None]})["img"]
    yuv_f = BgrToYuv444(rgb_input=True)({"img": u8[None].float()})["img"]
    assert yuv_u8.dtype == yuv_f.dtype == torch.float32 and torch.equal(yuv_u8, yuv_f)
    assert yuv_f[0, :, 0, 1].tolist() == [82.0, 89.0, 252.0]  # BT.601 of RGB (255, 7, 13), by hand
