"""Write a report as ``{stem}.txt``, ``{stem}.html`` and ``{stem}.json`` (atomic writes)."""

from __future__ import annotations

import os
from typing import Any

from hat.quantization.debug.text_report import to_json
from hat.utils.file_io import atomic_write

__all__ = ["write_report_files"]


def write_report_files(
    out_dir: str, stem: str, text: str, data: Any, html_text: str | None = None
) -> list[str]:
    """Write the text, JSON (and HTML) versions of one report; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    files = [(f"{stem}.txt", text), (f"{stem}.json", to_json(data) + "\n")]
    if html_text is not None:
        files.append((f"{stem}.html", html_text))
    paths = []
    for name, content in files:
        path = os.path.join(out_dir, name)
        payload = content.encode()
        atomic_write(path, lambda f, payload=payload: f.write(payload))
        paths.append(path)
    return paths
