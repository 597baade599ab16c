"""LMDB datasets decode straight from the memory map: the items and tensors are exactly what the
stored arrays say, they own their memory, and nothing outlives the read transaction."""

import cv2
import lmdb
import msgpack
import numpy as np
import pytest
import torch

from hat.data.codecs import cityscapes, flyingchairs, sceneflow
from hat.data.datasets import CityscapesFromLMDB, FlyingChairs, SceneFlow
from hat.data.datasets.lmdb_item import split_copying_head
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.transforms import Compose, ToTensor

H, W, N = 24, 40, 3


def _arrays(seed):
    rng = np.random.default_rng(seed)
    imgs = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2)]
    return imgs, rng.normal(0, 5, (H, W, 2)).astype(np.float32)


def _write(path, values):
    with LmdbWriter(path) as w:
        for v in values:
            w.append(v)
    return str(path)


def _chairs(tmp_path, img_format):
    values = []
    for i in range(N):
        (img1, img2), flow = _arrays(i)
        values.append(flyingchairs.encode_pair(img1, img2, flow, i + 1, img_format))
    return _write(tmp_path / f"chairs_{img_format}", values)


def _sceneflow(tmp_path, img_format):
    values = []
    for i in range(N):
        (left, right), flow = _arrays(i)
        disp = np.abs(flow[..., 0])
        values.append(sceneflow.encode_sample(left, right, disp, f"left/{i}.png", img_format))
    return _write(tmp_path / f"sceneflow_{img_format}", values)


def _expected(kind, i, to_rgb):
    (a, b), flow = _arrays(i)
    if not to_rgb:
        a, b = (np.ascontiguousarray(x[..., ::-1]) for x in (a, b))
    if kind == "chairs":
        return {"img": [a, b], "gt_flow": flow, "img_name": i + 1}
    return {"img": [a, b], "gt_disp": np.abs(flow[..., 0]), "img_name": f"left/{i}.png"}


DATASETS = {"chairs": (FlyingChairs, _chairs), "sceneflow": (SceneFlow, _sceneflow)}


def _assert_own_writable(arrays):
    for a in arrays:
        assert a.flags.writeable and a.flags.c_contiguous
        base = a
        while base is not None:  # no view of a memoryview (of the LMDB memory map)
            assert not isinstance(base, memoryview)
            base = getattr(base, "base", None)


@pytest.mark.parametrize("kind", DATASETS)
@pytest.mark.parametrize("img_format", ["raw", "png"])
@pytest.mark.parametrize("to_rgb", [True, False])
def test_items_are_the_stored_arrays_and_own_them(tmp_path, kind, img_format, to_rgb):
    cls, make = DATASETS[kind]
    ds = cls(make(tmp_path, img_format), to_rgb=to_rgb)
    items = [ds[i] for i in range(N)]  # all held at once: none may share the map
    for i, item in enumerate(items):
        want = _expected(kind, i, to_rgb)
        assert set(item) == set(want) and item["img_name"] == want["img_name"]
        target = "gt_flow" if kind == "chairs" else "gt_disp"
        arrays = [*item["img"], item[target]]
        for got, exp in zip(arrays, [*want["img"], want[target]]):
            assert got.dtype == exp.dtype and got.shape == exp.shape
            np.testing.assert_array_equal(got, exp)
        _assert_own_writable(arrays)
        for a in arrays:  # modifying an item in place changes nothing stored
            a[...] = 0
    np.testing.assert_array_equal(ds[1]["img"][0], _expected(kind, 1, to_rgb)["img"][0])


TO_TENSORS = [
    ToTensor(),
    ToTensor(img_dtype="float32"),
    ToTensor(to_yuv=True),
    ToTensor(to_yuv=True, rgb_input=False),
]


@pytest.mark.parametrize("kind", DATASETS)
@pytest.mark.parametrize("img_format", ["raw", "png"])
@pytest.mark.parametrize("to_rgb", [True, False])
def test_to_tensor_first_equals_to_tensor_after(tmp_path, kind, img_format, to_rgb):
    """With ToTensor first the dataset hands it views of the map (no copy of its own): the result
    is bit-identical to ToTensor applied to the item."""
    cls, make = DATASETS[kind]
    path = make(tmp_path, img_format)
    plain = cls(path, to_rgb=to_rgb)
    for tt in TO_TENSORS:
        assert split_copying_head(Compose([tt]))[0] is tt
        fused = [cls(path, transforms=[tt], to_rgb=to_rgb), cls(path, transforms=tt, to_rgb=to_rgb)]
        results = [[ds[i] for i in range(N)] for ds in fused]  # held while others are read
        for i in range(N):
            want = tt(plain[i])
            for got in (results[0][i], results[1][i]):
                assert set(got) == set(want) and got["img_name"] == want["img_name"]
                for key in set(want) - {"img_name"}:
                    assert got[key].dtype == want[key].dtype, (tt, key)
                    assert torch.equal(got[key], want[key]), (tt, key)
    assert results[0][0]["img"].dtype == torch.uint8


def test_transforms_after_to_tensor_run_once_in_order(tmp_path):
    calls = []

    def later(sample):
        calls.append(type(sample["img"]).__name__)
        sample["img"] = sample["img"] + 1
        return sample

    ds = FlyingChairs(_chairs(tmp_path, "raw"), transforms=[ToTensor(), later])
    out = ds[0]
    assert calls == ["Tensor"]
    (img1, img2), _ = _arrays(0)
    want = torch.from_numpy(np.concatenate([img1, img2], axis=2)).permute(2, 0, 1) + 1
    assert torch.equal(out["img"], want)


def test_transforms_before_to_tensor_get_writable_copies(tmp_path):
    seen = []

    def zero_in_place(sample):
        seen.append(all(a.flags.writeable for a in sample["img"]))
        for a in sample["img"]:
            a[:2] = 0
        return sample

    ds = FlyingChairs(_chairs(tmp_path, "raw"), transforms=[zero_in_place, ToTensor()])
    assert split_copying_head(ds.transforms)[0] is None
    assert ds[0]["img"][:, :2].sum() == 0 and seen == [True]
    assert FlyingChairs(ds.data_path)[0]["img"][0][:2].any()  # the LMDB is untouched


class _ClaimsToCopy:
    copies_input = True

    def __call__(self, sample):
        return sample  # but hands back the views of the memory map


def test_a_copies_input_transform_that_does_not_copy_is_caught(tmp_path):
    path = _chairs(tmp_path, "raw")
    with pytest.raises(RuntimeError, match=r"chairs_raw key b'1'.*copies_input=True"):
        FlyingChairs(path, transforms=[_ClaimsToCopy()])[1]


def _put(path, items):
    env = lmdb.open(str(path), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for key, value in items:
            txn.put(key, value)
        txn.put(b"__len__", str(len(items)).encode())
    env.close()
    return str(path)


@pytest.mark.parametrize("transforms", [None, [ToTensor()]])
def test_short_or_cut_values_name_the_lmdb_and_key(tmp_path, transforms):
    (img1, img2), flow = _arrays(0)
    value = flyingchairs.encode_pair(img1, img2, flow, 1)
    short_flow = dict(value, flow=value["flow"][:-4])
    short_img = dict(value, img2=value["img2"][:100])
    packed = msgpack.packb(value, use_bin_type=True)
    path = _put(
        tmp_path / "bad_lmdb",
        [
            (b"0", msgpack.packb(short_flow, use_bin_type=True)),
            (b"1", msgpack.packb(short_img, use_bin_type=True)),
            (b"2", packed[: len(packed) // 2]),
            (b"3", packed),
        ],
    )
    ds = FlyingChairs(path, transforms=transforms)
    nbytes = H * W * 2 * 4
    with pytest.raises(CorruptFileError, match=rf"bad_lmdb key b'0' flow: expected {nbytes} bytes"):
        ds[0]
    with pytest.raises(CorruptFileError, match=r"bad_lmdb key b'1' img2: expected \d+ bytes"):
        ds[1]
    with pytest.raises(CorruptFileError, match=r"bad_lmdb: value of key b'2' is not msgpack"):
        ds[2]
    assert ds[3]["img_name"] == 1


def test_cityscapes_items_own_their_arrays(tmp_path):
    rng = np.random.default_rng(1)
    img_bgr = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    label = rng.integers(0, 34, (H, W), dtype=np.uint8)
    img_png, label_png = (cv2.imencode(".png", a)[1].tobytes() for a in (img_bgr, label))
    for fmt in cityscapes.IMG_FORMATS:
        value = cityscapes.encode_sample(img_png, label_png, "a_000000_000001", "a", fmt)
        path = _write(tmp_path / f"cs_{fmt}", [value, value])
        for to_rgb in (True, False):
            item = CityscapesFromLMDB(path, to_rgb=to_rgb)[0]
            want = img_bgr[..., ::-1] if to_rgb else img_bgr
            np.testing.assert_array_equal(item["img"], want)
            np.testing.assert_array_equal(item["gt_seg"], label)
            assert item["img_name"] == "a_000000_000001"
            _assert_own_writable([item["img"], item["gt_seg"]])


@pytest.mark.parametrize("transforms", [None, [ToTensor()]])
def test_hat_written_values_read_from_the_map(tmp_path, transforms):
    """Values in Horizon HAT's layouts arrive as memoryviews too: SceneFlow's dict (PNGs encoded
    from RGB arrays, float32 disparity, a bytes name) and Cityscapes' single blob."""
    (left, right), flow = _arrays(5)
    disp = np.abs(flow[..., 0])
    hat_sf = {
        "img_left": cv2.imencode(".png", left)[1].tobytes(),
        "img_right": cv2.imencode(".png", right)[1].tobytes(),
        "gt_disp": disp.astype("<f4").tobytes(),
        "img_name": b"left/0005.png",
    }
    path = _put(tmp_path / "hat_sf", [(b"0", msgpack.packb(hat_sf, use_bin_type=True))])
    item = SceneFlow(path, transforms=transforms)[0]
    assert item["img_name"] == "left/0005.png"
    want = ToTensor()({"img": [left, right], "gt_disp": disp}) if transforms else None
    if transforms:
        assert torch.equal(item["img"], want["img"]) and torch.equal(
            item["gt_disp"], want["gt_disp"]
        )
    else:
        np.testing.assert_array_equal(item["img"][1], right)
        np.testing.assert_array_equal(item["gt_disp"], disp)
        _assert_own_writable([*item["img"], item["gt_disp"]])

    label = np.arange(H * W, dtype=np.uint8).reshape(H, W) % 34
    blob = np.array([H, W], "<u2").tobytes() + cv2.imencode(".png", left)[1].tobytes()
    path = _put(tmp_path / "hat_cs", [(b"0", msgpack.packb(blob + label.tobytes()))])
    item = CityscapesFromLMDB(path)[0]
    np.testing.assert_array_equal(item["img"], left)  # HAT encoded the RGB array as is
    np.testing.assert_array_equal(item["gt_seg"], label)
    _assert_own_writable([item["img"], item["gt_seg"]])


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_to_tensor_first_in_dataloader_workers(tmp_path, context):
    from torch.utils.data import DataLoader

    from hat.data.collates import collate_2d

    ds = FlyingChairs(_chairs(tmp_path, "raw"), transforms=[ToTensor()])
    want = [ds[i] for i in range(N)]  # the parent has the LMDB open when the workers start
    loader = DataLoader(
        ds, batch_size=2, num_workers=2, collate_fn=collate_2d, multiprocessing_context=context
    )
    got = list(loader)
    assert torch.equal(torch.cat([b["img"] for b in got]), torch.stack([w["img"] for w in want]))
    assert torch.equal(
        torch.cat([b["gt_flow"] for b in got]), torch.stack([w["gt_flow"] for w in want])
    )
