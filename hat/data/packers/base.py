"""Base of every packer: a list of raw samples -> one LMDB record each, in list order.

A packer subclasses :class:`SamplePacker`: its ``__init__`` checks its arguments through
``super().__init__``, then sets ``self.layout`` and ``self.samples`` (the raw samples in LMDB
index order); its ``load_value`` reads one sample and returns its record. Samples are read and
encoded by worker processes (:class:`~hat.utils.process_map.ProcessMap`) and written in list
order by :class:`~hat.data.pack_type.lmdb.LmdbWriter`, which builds the LMDB in a temporary
directory: any bad sample, Ctrl-C or SIGTERM leaves nothing at the target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

from tqdm import tqdm

from hat.data.pack_type import check_pack_type
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.packers.target import make_receiving_dir, split_lmdb_path
from hat.utils.process_map import ProcessMap

__all__ = ["SamplePacker"]


class SamplePacker:
    """Pack ``self.samples`` through ``load_value(layout, sample, img_format)`` into
    ``self.target`` (``<target_data_dir>/<split>_lmdb``).

    Args:
        src_data_dir: the raw dataset's directory.
        target_data_dir: directory that receives ``<split>_lmdb`` (default ``src_data_dir``);
            a path already ending in ``<split>_lmdb`` is used as the LMDB itself
            (:func:`~hat.data.packers.target.split_lmdb_path`).
        split_name: one of ``splits``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: one of ``img_formats``.
        overwrite: replace an existing target once the new one is complete.
        splits, img_formats: the accepted values, as named in errors.
    """

    #: Reads one raw sample: ``load_value(layout, sample, img_format) -> record``; a
    #: module-level function (pickled to the reader processes).
    load_value: ClassVar[Callable[..., dict[str, Any]]]
    #: What one sample is called in the progress bar.
    unit: ClassVar[str] = "sample"
    #: Samples per task sent to a reader process.
    chunksize: ClassVar[int] = 2
    #: Records per LMDB write transaction.
    commit_every: ClassVar[int] = 16

    layout: Any
    samples: Sequence[Any]

    def __init__(
        self,
        src_data_dir: str,
        target_data_dir: str | None,
        split_name: str,
        num_workers: int,
        pack_type: str,
        img_format: str,
        overwrite: bool,
        *,
        splits: Sequence[str],
        img_formats: Sequence[str],
    ) -> None:
        self.pack_type = check_pack_type(pack_type)
        if split_name not in splits:
            raise ValueError(f"unknown split {split_name!r}: expected one of {splits}")
        if img_format not in img_formats:
            raise ValueError(f"unknown img_format {img_format!r}: expected one of {img_formats}")
        self.split_name = split_name
        self.target = split_lmdb_path(src_data_dir, target_data_dir, split_name)
        self.num_workers = max(0, int(num_workers))
        self.img_format = img_format
        self.overwrite = overwrite

    def __call__(self) -> int:
        """Pack; return the number of samples written."""
        worker = partial(type(self).load_value, self.layout, img_format=self.img_format)
        make_receiving_dir(self.target)
        with LmdbWriter(self.target, overwrite=self.overwrite, commit_every=self.commit_every) as w:
            if self.num_workers <= 1:
                self._write(w, map(worker, self.samples))
            else:
                with ProcessMap(
                    worker, self.samples, self.num_workers, chunksize=self.chunksize
                ) as values:
                    self._write(w, values)
            return len(w)

    run = __call__

    def _write(self, writer: LmdbWriter, values: Iterable[dict[str, Any]]) -> None:
        desc = f"pack {self.split_name} -> {self.target}"
        progress = _MainThreadProgress(values, total=len(self.samples), desc=desc, unit=self.unit)
        for value in progress:
            writer.append(value)


class _MainThreadProgress(tqdm):
    """A progress bar without tqdm's monitor thread.

    With a second Python thread in the process, the kernel may hand SIGTERM to that thread; the
    main thread, blocked in a read of a slow source, then keeps waiting and the packer does not
    stop until the read returns. With one thread the read is interrupted and the packer cleans up.
    """

    monitor_interval = 0
