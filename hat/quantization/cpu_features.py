"""The CPU instruction set behind ONNX Runtime's 8-bit integer kernels.

ONNX Runtime (MLAS) computes the ``uint8 activation x int8 weight`` dot products of
``QLinearConv``, ``ConvInteger`` and ``MatMulInteger`` with the best instructions the CPU has:

=================  ===========================================================  ===========
ISA level          u8 x s8 dot product                                          saturates
=================  ===========================================================  ===========
``avx512_vnni``    ``vpdpbusd``: 4 products summed straight into int32          no
``avx_vnni``       ``vpdpbusd`` (VEX encoding, 256 bit)                          no
``avx512bw``       ``vpmaddubsw``: 2 products summed into int16 **saturated**   yes
``avx2``           ``vpmaddubsw`` (256 bit)                                     yes
``sse4_1``         ``pmaddubsw`` (128 bit)                                      yes
``arm_i8mm``       int8 matrix multiply (i8mm) into int32                       no
``arm_dotprod``    ``udot``/``sdot`` into int32                                 no
``arm_neon``       widening multiplies (16-bit products, 32-bit accumulation)   no
``x86_other``      SSE2 kernel (no SSE4.1)                                      unknown
``unknown``        platform without ``/proc/cpuinfo`` (best effort)             see below
=================  ===========================================================  ===========

``vpmaddubsw`` adds a pair of ``u8 * s8`` products into a signed 16-bit lane with saturation:
with raw activation codes up to 255 and weights up to 127 a pair reaches
``2 * 255 * 127 = 64770 > 32767`` and is clipped, so ORT's accumulator differs from the exact
int32 sum that the integer model (``int_infer``) computes. Weights in ``[-64, 63]`` (7 bits,
ONNX Runtime's ``reduce_range``) bound a pair by ``2 * 255 * 64 = 32640 <= 32767``: no lane ever
saturates, on any ISA. ONNX Runtime documents the issue for x86-64 SSE4.1/AVX2/AVX512 without
VNNI (``session.x64quantprecision`` in ``onnxruntime_session_options_config_keys.h``) and states
there is none with VNNI or on ARM.

On Linux the flags come from ``/proc/cpuinfo`` (x86 ``flags``, ARM ``Features``); elsewhere
the ISA is ``unknown`` (ARM machines are still known not to saturate).
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

__all__ = [
    "ISA_LEVELS",
    "CpuInt8Features",
    "parse_cpuinfo_flags",
    "isa_from_flags",
    "features_from_cpuinfo",
    "detect_cpu_int8_features",
    "u8s8_can_saturate",
    "U8S8_PAIR_LIMIT",
]

# (isa, the x86/ARM flag that identifies it), best first
_X86_LEVELS = (
    ("avx512_vnni", "avx512_vnni"),
    ("avx_vnni", "avx_vnni"),
    ("avx512bw", "avx512bw"),
    ("avx2", "avx2"),
    ("sse4_1", "sse4_1"),
)
_ARM_LEVELS = (("arm_i8mm", "i8mm"), ("arm_dotprod", "asimddp"), ("arm_neon", "asimd"))
ISA_LEVELS = (
    tuple(i for i, _ in _X86_LEVELS)
    + ("x86_other",)
    + tuple(i for i, _ in _ARM_LEVELS)
    + ("unknown",)
)

_KERNELS = {
    "avx512_vnni": "vpdpbusd (u8*s8 x4 -> int32, exact)",
    "avx_vnni": "vpdpbusd ymm (u8*s8 x4 -> int32, exact)",
    "avx512bw": "vpmaddubsw zmm (u8*s8 x2 -> int16, saturating)",
    "avx2": "vpmaddubsw ymm (u8*s8 x2 -> int16, saturating)",
    "sse4_1": "pmaddubsw xmm (u8*s8 x2 -> int16, saturating)",
    "arm_i8mm": "int8 matrix multiply / dot product into int32 (exact)",
    "arm_dotprod": "udot/sdot into int32 (exact)",
    "arm_neon": "widening multiply-accumulate (exact)",
    "x86_other": "SSE2 kernel (saturation not established)",
    "unknown": "not determined",
}
_SATURATES = {
    "avx512_vnni": False,
    "avx_vnni": False,
    "avx512bw": True,
    "avx2": True,
    "sse4_1": True,
    "arm_i8mm": False,
    "arm_dotprod": False,
    "arm_neon": False,
}

#: The int16 lane of ``vpmaddubsw``: a pair ``a0*w0 + a1*w1`` is clipped to this range.
U8S8_PAIR_LIMIT = (-32768, 32767)

_ARM_MACHINES = ("aarch64", "arm64", "armv8l", "armv8b")


def _is_arm(machine: str) -> bool:
    return machine.lower() in _ARM_MACHINES or machine.lower().startswith("arm")


def u8s8_can_saturate(isa: str, machine: str = "") -> bool | None:
    """Whether ORT's u8 x s8 kernels on ``isa`` can saturate (None: not known). An
    ``unknown`` ISA on an ARM ``machine`` does not saturate (no ARM kernel does)."""
    if isa not in ISA_LEVELS:
        raise ValueError(f"unknown ISA level {isa!r}; expected one of {ISA_LEVELS}")
    if isa == "unknown" and _is_arm(machine):
        return False
    return _SATURATES.get(isa)


@dataclass(frozen=True)
class CpuInt8Features:
    """What matters about a CPU for ORT's 8-bit kernels.

    ``machine``: ``platform.machine()`` (or the architecture implied by the cpuinfo text);
    ``isa``: one of :data:`ISA_LEVELS`; ``flags``: the relevant flags found; ``source``:
    where they were read (``/proc/cpuinfo``, ``text``, or ``platform`` when unavailable).
    """

    machine: str
    isa: str
    flags: tuple[str, ...] = ()
    source: str = "platform"

    @property
    def u8s8_saturates(self) -> bool | None:
        return u8s8_can_saturate(self.isa, self.machine)

    @property
    def u8s8_kernel(self) -> str:
        return _KERNELS[self.isa]

    def as_dict(self) -> dict[str, object]:
        return {
            "machine": self.machine,
            "isa": self.isa,
            "u8s8_kernel": self.u8s8_kernel,
            "u8s8_can_saturate": self.u8s8_saturates,
            "flags": list(self.flags),
            "source": self.source,
        }


def parse_cpuinfo_flags(text: str) -> tuple[str | None, frozenset[str]]:
    """``(kind, flags)`` of the first processor in ``/proc/cpuinfo`` text: kind ``"x86"``
    (a ``flags`` line) or ``"arm"`` (a ``Features`` line), None if neither is present."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "flags":
            return "x86", frozenset(value.split())
        if key == "features":
            return "arm", frozenset(value.split())
    return None, frozenset()


def isa_from_flags(kind: str | None, flags: frozenset[str] | set[str]) -> str:
    """The ISA level (:data:`ISA_LEVELS`) of a flag set of ``kind`` ``"x86"`` or ``"arm"``."""
    if kind == "x86":
        for isa, flag in _X86_LEVELS:
            if flag in flags:
                return isa
        return "x86_other"
    if kind == "arm":
        for isa, flag in _ARM_LEVELS:
            if flag in flags:
                return isa
        return "unknown"
    return "unknown"


def _relevant(kind: str | None, flags: frozenset[str]) -> tuple[str, ...]:
    names = [f for _, f in (_X86_LEVELS if kind == "x86" else _ARM_LEVELS)]
    return tuple(f for f in names if f in flags)


def features_from_cpuinfo(
    text: str, machine: str | None = None, source: str = "text"
) -> CpuInt8Features:
    """:class:`CpuInt8Features` from ``/proc/cpuinfo`` text (``machine`` defaults to the
    architecture the text implies: ``x86_64`` or ``aarch64``)."""
    kind, flags = parse_cpuinfo_flags(text)
    if machine is None:
        machine = {"x86": "x86_64", "arm": "aarch64"}.get(kind or "", platform.machine())
    return CpuInt8Features(machine, isa_from_flags(kind, flags), _relevant(kind, flags), source)


@functools.lru_cache(maxsize=4)
def detect_cpu_int8_features(cpuinfo_path: str = "/proc/cpuinfo") -> CpuInt8Features:
    """The features of the CPU this process runs on (cached). Linux: parsed from
    ``cpuinfo_path``; elsewhere (or unreadable): ISA ``unknown`` with ``platform.machine()``."""
    machine = platform.machine() or "unknown"
    if os.path.isfile(cpuinfo_path):
        try:
            with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        if text:
            found = features_from_cpuinfo(text, machine, source=cpuinfo_path)
            if parse_cpuinfo_flags(text)[0] is not None:
                return found
    return CpuInt8Features(machine, "unknown", (), "platform")
