"""CPU ISA detection for ONNX Runtime's 8-bit kernels, from /proc/cpuinfo text."""

import platform

import pytest

from hat.quantization.cpu_features import (
    ISA_LEVELS,
    detect_cpu_int8_features,
    features_from_cpuinfo,
    isa_from_flags,
    parse_cpuinfo_flags,
    u8s8_can_saturate,
)
from hat.quantization.qconfig import resolve_reduce_range

# flags lines as Linux prints them (shortened to the relevant part plus neighbours)
ICELAKE = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n"
    "flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512dq "
    "avx512cd avx512bw avx512vl avx512_vnni avx512_bitalg\n"
    "processor\t: 1\nflags\t\t: fpu sse2\n"  # only the first processor counts
)
ALDERLAKE = "flags\t\t: fpu sse2 ssse3 sse4_1 avx fma avx2 avx_vnni sha_ni\n"
SKYLAKE_X = "flags\t\t: fpu sse2 ssse3 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n"
HASWELL = "flags\t\t: fpu sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2\n"
WESTMERE = "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt aes\n"
K8 = "flags\t\t: fpu sse sse2 3dnow\n"
NEOVERSE_N1 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 asimddp\n"
NEOVERSE_V1 = "Features\t: fp asimd asimddp sha512 sve i8mm bf16\n"
CORTEX_A53 = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"

CASES = [
    # text, isa, saturates, relevant flags
    (ICELAKE, "avx512_vnni", False, ("avx512_vnni", "avx512bw", "avx2", "sse4_1")),
    (ALDERLAKE, "avx_vnni", False, ("avx_vnni", "avx2", "sse4_1")),
    (SKYLAKE_X, "avx512bw", True, ("avx512bw", "avx2")),
    (HASWELL, "avx2", True, ("avx2", "sse4_1")),
    (WESTMERE, "sse4_1", True, ("sse4_1",)),
    (K8, "x86_other", None, ()),
    (NEOVERSE_N1, "arm_dotprod", False, ("asimddp", "asimd")),
    (NEOVERSE_V1, "arm_i8mm", False, ("i8mm", "asimddp", "asimd")),
    (CORTEX_A53, "arm_neon", False, ("asimd",)),
]


@pytest.mark.parametrize("text,isa,saturates,flags", CASES)
def test_isa_from_cpuinfo_text(text, isa, saturates, flags):
    f = features_from_cpuinfo(text)
    assert f.isa == isa
    assert f.u8s8_saturates is saturates
    assert f.flags == flags
    assert f.machine == ("aarch64" if "Features" in text else "x86_64")
    d = f.as_dict()
    assert d["isa"] == isa and d["u8s8_can_saturate"] is saturates and d["source"] == "text"
    assert ("saturating" in d["u8s8_kernel"]) is (saturates is True)


@pytest.mark.parametrize("text,isa,saturates,flags", CASES)
def test_auto_reduces_exactly_where_products_can_saturate(text, isa, saturates, flags):
    f = features_from_cpuinfo(text)
    # reduce unless the kernel is known to be exact (unknown x86 SSE2 kernels: reduce)
    assert resolve_reduce_range("auto", f) is (saturates is not False)
    assert resolve_reduce_range(True, f) is True
    assert resolve_reduce_range(False, f) is False


def test_vnni_removed_from_flags_turns_into_a_saturating_isa():
    kind, flags = parse_cpuinfo_flags(ICELAKE)
    assert kind == "x86" and "avx512_vnni" in flags
    assert isa_from_flags(kind, flags - {"avx512_vnni"}) == "avx512bw"
    assert isa_from_flags(kind, flags - {"avx512_vnni", "avx512bw"}) == "avx2"
    assert isa_from_flags(kind, {"avx2", "avx_vnni"}) == "avx_vnni"


def test_text_without_flags_is_unknown():
    assert parse_cpuinfo_flags("processor\t: 0\nmodel name\t: something\n") == (None, frozenset())
    f = features_from_cpuinfo("processor\t: 0\n", machine="x86_64")
    assert f.isa == "unknown" and f.u8s8_saturates is None
    assert resolve_reduce_range("auto", f) is True
    # no ARM kernel saturates, even when its features are unknown
    assert features_from_cpuinfo("", machine="arm64").u8s8_saturates is False
    assert u8s8_can_saturate("unknown", "aarch64") is False


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="unknown ISA level 'sse9'"):
        u8s8_can_saturate("sse9")
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        resolve_reduce_range("yes")
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        resolve_reduce_range(1)


def test_detect_reads_the_given_cpuinfo_file(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text(HASWELL)
    f = detect_cpu_int8_features(str(p))
    assert (f.isa, f.source, f.u8s8_saturates) == ("avx2", str(p), True)
    assert f.machine == (platform.machine() or "unknown")
    missing = detect_cpu_int8_features(str(tmp_path / "absent"))
    assert (missing.isa, missing.source) == ("unknown", "platform")


def test_this_machine():
    f = detect_cpu_int8_features()
    assert f.isa in ISA_LEVELS
    print("this CPU:", f.as_dict())
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    assert f == features_from_cpuinfo(text, f.machine, source="/proc/cpuinfo")
