"""The resolved configs against snapshots of an earlier version of them.

Write the reference snapshots from the version to compare against (outside the repository)::

    python tests/configs/config_snapshot.py /tmp/config_snapshots

then, after changing the configs, run this test with ``HAT_CONFIG_SNAPSHOTS=/tmp/config_snapshots``.
Every top-level value present in both versions must be identical (after
:mod:`config_snapshot`'s normalisation), and so must the sharing of containers between them;
names only one version has are reported. Differences that were made on purpose are listed in
:data:`INTENDED` (config, key, reason). Without ``HAT_CONFIG_SNAPSHOTS`` the test is skipped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from config_snapshot import CONFIGS, STAGES, load, snapshot, snapshot_name

SNAPSHOT_DIR = os.environ.get("HAT_CONFIG_SNAPSHOTS")

# (config path or "*", top-level key, why it differs from the snapshot). "*" = every config.
_NAMED = "a recipe entry demos edit by name instead of by list position"
INTENDED: list[tuple[str, str, str]] = [
    ("*", "stage_best_ckpt", "configs/common: built with hat.utils.checkpoint.checkpoint_path"),
    ("*", "point_ckpt_loaders", "configs/common: every recipe has it (was UNet only)"),
    ("*", "relocate_outputs", "configs/common: one call moves every stage output to a ckpt_dir"),
    ("*", "loss_show_callback", "one name for the loss callback in every recipe"),
    ("*", "loss_metric_show_update", "PwcNet's loss callback, now loss_show_callback"),
    ("*", "loss_show_update", "UNet's loss callback, now loss_show_callback"),
    ("*", "val_metrics", "metric factory given to configs/common (StereoNet: max_disp argument)"),
    ("*", "train_metrics", "StereoNet's training-metric factory given to configs/common"),
    ("*", "loader", "a demo's loop variable that leaked into the config (now _loader)"),
    ("*", "lr_updater", _NAMED),
    ("*", "qat_lr_updater", _NAMED),
    ("*", "crop_transform", _NAMED),
    ("*", "scale_transform", _NAMED),
    ("*", "label_remap", _NAMED),
    ("*", "label_one_hot", _NAMED),
    ("*", "label_resize", _NAMED),
    ("configs/segmentation/unet_mobilenetv1_cityscapes.py", "train_affine", _NAMED),
]

# (config path fragment, path of a list, new order as old indices, why): the list's first
# ``len(order)`` items are expected in a new order (``new[i] == old[order[i]]``), everything
# else unchanged.
_LR_AFTER_LOSS = "the shared callback order (the two callbacks use disjoint hooks)"
REORDERED: list[tuple[str, str, list[int], str]] = [
    ("unet_", "float_trainer.callbacks", [0, 2, 1], _LR_AFTER_LOSS),
    ("unet_", "qat_trainer.callbacks", [0, 2, 1], _LR_AFTER_LOSS),
]


def _intended(config: str) -> dict[str, str]:
    return {key: why for where, key, why in INTENDED if where in ("*", config)}


def _reorderings(config: str) -> list[tuple[str, list[int]]]:
    return [(path, order) for where, path, order, _ in REORDERED if where in config]


def reorder(snap: dict, path: str, order: list[int]) -> dict:
    """``snap`` with the list at ``path`` (``key.sub.list``) permuted to ``order``; paths into
    its items (``$ref``s and sharing groups) follow their item."""
    key, *parts = path.split(".")
    holder = snap["values"][key]
    for part in parts[:-1]:
        holder = holder[part]
    items = holder[parts[-1]] if parts else holder
    items[: len(order)] = [items[i] for i in order]
    new_index = {old: new for new, old in enumerate(order)}
    pattern = re.compile(re.escape(path) + r"\[(\d+)\](?=$|[.\[])")

    def renumber(match: re.Match) -> str:
        index = int(match.group(1))
        return f"{path}[{new_index.get(index, index)}]"

    def rename(text: str) -> str:
        return pattern.sub(renumber, text)

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"$ref"}:
                return {"$ref": rename(value["$ref"])}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return {
        "values": walk(snap["values"]),
        "shared": [sorted(rename(p) for p in group) for group in snap["shared"]],
    }


def _shared_groups(groups: list[list[str]], keys: set[str]) -> set[tuple[str, ...]]:
    """Sharing restricted to paths under ``keys`` (groups of one path say nothing)."""
    out = set()
    for group in groups:
        kept = tuple(sorted(p for p in group if _top_key(p) in keys))
        if len(kept) > 1:
            out.add(kept)
    return out


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def compare(old: dict, new: dict, intended: dict[str, str]) -> list[str]:
    """Human-readable differences between two snapshots, ignoring ``intended`` keys."""
    problems = []
    old_keys, new_keys = set(old["values"]), set(new["values"])
    for key in sorted(old_keys - new_keys - set(intended)):
        problems.append(f"missing key {key!r}")
    for key in sorted(new_keys - old_keys - set(intended)):
        problems.append(f"new key {key!r}")
    common = (old_keys & new_keys) - set(intended)
    for key in sorted(common):
        if old["values"][key] != new["values"][key]:
            a = json.dumps(old["values"][key], sort_keys=True)
            b = json.dumps(new["values"][key], sort_keys=True)
            i = next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"{key} differs near ...{a[max(0, i - 80):i + 80]}... vs "
                            f"...{b[max(0, i - 80):i + 80]}...")  # fmt: skip
    before = _shared_groups(old["shared"], common)
    after = _shared_groups(new["shared"], common)
    for group in sorted(before - after):
        problems.append(f"no longer one shared object: {list(group)}")
    for group in sorted(after - before):
        problems.append(f"now one shared object: {list(group)}")
    return problems


CASES = [(c, s) for c in CONFIGS for s in STAGES]


@pytest.mark.skipif(not SNAPSHOT_DIR, reason="set HAT_CONFIG_SNAPSHOTS to a snapshot folder")
@pytest.mark.parametrize(("config", "stage"), CASES, ids=[f"{c}@{s}" for c, s in CASES])
def test_resolved_config_matches_snapshot(config: str, stage: str) -> None:
    reference = Path(SNAPSHOT_DIR) / snapshot_name(config, stage)
    assert reference.is_file(), f"no snapshot {reference}"
    old = json.loads(reference.read_text())
    for path, order in _reorderings(config):
        old = reorder(old, path, order)
    new = json.loads(json.dumps(snapshot(load(config, stage)), sort_keys=True))
    problems = compare(old, new, _intended(config))
    assert not problems, f"{config} at {stage}:\n" + "\n".join(problems)


def test_compare_reports_value_and_sharing_changes() -> None:
    shared = {"a": 1}
    before = snapshot({"x": {"p": shared, "q": shared}, "y": 2})
    after = snapshot({"x": {"p": {"a": 1}, "q": {"a": 1}}, "y": 3, "z": 0})
    problems = compare(before, after, {})
    assert "new key 'z'" in problems
    assert any(p.startswith("y differs") for p in problems)
    assert any(p.startswith("x differs") for p in problems)  # the $ref became a copy
    assert any(p.startswith("no longer one shared object") for p in problems)
    assert compare(before, before, {}) == []
    assert compare(before, after, {"x": "", "y": "", "z": ""}) == []
