"""Checks shared by the codecs of msgpack records: format, schema and fields, named in errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hat.data.errors import CorruptFileError

__all__ = ["check_img_format", "check_rgb_images", "check_schema", "record_fields"]


def check_img_format(img_format: str, img_formats: Sequence[str]) -> None:
    """ValueError unless ``img_format`` is one of ``img_formats``."""
    if img_format not in img_formats:
        raise ValueError(f"unknown img_format {img_format!r}: expected one of {img_formats}")


def check_rgb_images(
    images: Sequence[tuple[str, np.ndarray]], size: tuple[int, int], who: str, ref: str
) -> None:
    """ValueError unless every ``(name, image)`` is ``(*size, 3)`` uint8; the message says
    ``"<who>: <name> is <shape> <dtype>, expected (H, W, 3) uint8 to match the <ref>"``."""
    height, width = size
    for name, img in images:
        if img.shape != (height, width, 3) or img.dtype != np.uint8:
            raise ValueError(
                f"{who}: {name} is {img.shape} {img.dtype}, expected "
                f"({height}, {width}, 3) uint8 to match the {ref}"
            )


def check_schema(value: Any, schema: str, dataset: str, where: str) -> None:
    """CorruptFileError unless ``value`` is a dict whose ``"schema"`` is ``schema``."""
    if not isinstance(value, dict) or value.get("schema") != schema:
        got = value.get("schema") if isinstance(value, dict) else type(value).__name__
        raise CorruptFileError(
            f"{where}: not a {dataset} value: expected schema {schema!r}, got {got!r}"
        )


@contextmanager
def record_fields(dataset: str, where: str) -> Iterator[None]:
    """A missing field (KeyError) read inside the block is a CorruptFileError naming it."""
    try:
        yield
    except KeyError as exc:
        raise CorruptFileError(f"{where}: {dataset} value lacks field {exc.args[0]!r}") from None
