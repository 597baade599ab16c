"""Our Cityscapes label table and LabelRemap against cityscapesScripts' official table."""

# cityscapesScripts is a pinned dev/test requirement (requirements-dev.txt, the `test` extra):
# imported unconditionally so that a missing package fails the suite instead of skipping the
# comparison with the official table.
import cityscapesscripts.helpers.labels as cs_labels
import numpy as np
import pytest
import torch

from hat.data.cityscapes_labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABEL_MAPPINGS,
    LABELS,
    TRAIN_ID_COLORS,
)
from hat.data.transforms.label_remap import LabelRemap

# HAT's own tuple (hat/data/datasets/cityscapes.py): -1 where Cityscapes says 255
HAT_TUPLE = (
    (-1, -1, -1, -1, -1, -1, -1, 0, 1, -1, -1)
    + (2, 3, 4, -1, -1, -1, 5, -1, 6, 7, 8, 9, 10)
    + (11, 12, 13, 14, 15, -1, -1, 16, 17, 18)
)


def _official_train_id(label) -> int:
    return label.trainId if 0 <= label.trainId < 255 else 255


def test_table_equals_cityscapesscripts():
    ours = [
        (
            lab.name,
            lab.id,
            lab.train_id,
            lab.category,
            lab.category_id,
            lab.has_instances,
            lab.ignore_in_eval,
            lab.color,
        )
        for lab in LABELS
    ]
    theirs = [
        (
            lab.name,
            lab.id,
            lab.trainId,
            lab.category,
            lab.categoryId,
            lab.hasInstances,
            lab.ignoreInEval,
            tuple(lab.color),
        )
        for lab in cs_labels.labels
    ]
    assert ours == theirs


def test_mapping_covers_every_label_id():
    for lab in cs_labels.labels:
        if lab.id >= 0:
            assert CITYSCAPES_LABEL_MAPPINGS[lab.id] == _official_train_id(lab), lab.name
    assert len(CITYSCAPES_LABEL_MAPPINGS) == 34
    assert tuple(255 if v < 0 else v for v in HAT_TUPLE) == CITYSCAPES_LABEL_MAPPINGS


def test_classes_and_palette():
    evaluated = sorted(
        (lab for lab in cs_labels.labels if 0 <= lab.trainId < 255), key=lambda lab: lab.trainId
    )
    assert CITYSCAPES_CLASSES == tuple(lab.name for lab in evaluated)
    assert TRAIN_ID_COLORS == tuple(tuple(lab.color) for lab in evaluated)
    assert len(CITYSCAPES_CLASSES) == 19


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32])
def test_label_remap_every_label_id_on_a_batch(dtype):
    ids = torch.arange(256).reshape(2, 1, 8, 16).to(dtype)  # every uint8 value, batched
    out = LabelRemap()({"gt_seg": ids})["gt_seg"]
    expected = torch.full((256,), 255, dtype=torch.int64)
    for lab in cs_labels.labels:
        if lab.id >= 0:
            expected[lab.id] = _official_train_id(lab)
    assert out.shape == ids.shape
    assert out.dtype == (torch.int64 if dtype.is_floating_point else dtype)
    assert out.flatten().long().tolist() == expected.tolist()


def test_label_remap_numpy_and_hat_tuple_agree():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 40, (5, 7)).astype(np.uint8)
    ours = LabelRemap()({"gt_seg": raw})["gt_seg"]
    hat = LabelRemap(mapping=HAT_TUPLE)({"gt_seg": raw})["gt_seg"]
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, hat)
    as_tensor = LabelRemap(mapping=HAT_TUPLE)({"gt_seg": torch.from_numpy(raw)})["gt_seg"]
    np.testing.assert_array_equal(as_tensor.numpy(), ours)
    neg = LabelRemap()({"gt_seg": torch.tensor([-1, 7, 26, 34])})["gt_seg"]
    assert neg.tolist() == [255, 0, 13, 255]
