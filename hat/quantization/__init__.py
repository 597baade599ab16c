"""Quantization: calibration -> QAT -> fixed-point integer model -> ONNX (QDQ) export.

HAT's user contract::

    model.fuse_model(); model.set_qconfig()
    hat.quantization.prepare_qat(model, inplace=True)            # QAT state
    hat.quantization.set_fake_quantize(model, FakeQuantState.CALIBRATION)
    ... forward passes (or hat.engine.Calibrator) ...
    hat.quantization.set_fake_quantize(model, FakeQuantState.QAT) ... train ...
    int_model = hat.quantization.convert(model)                   # integer model (int_infer)
    hat.quantization.export_onnx.export_int_model_to_onnx(int_model, inputs, "m.onnx")

The ONNX/ORT helpers live in :mod:`hat.quantization.export_onnx` and
:mod:`hat.quantization.ort_runner` (imported lazily: they import onnx/onnxruntime).
"""

from hat.quantization.convert import convert, is_int_model
from hat.quantization.converters import (
    Calibration2QAT,
    Float2Calibration,
    Float2QAT,
    LoadCheckpoint,
    ModelConvertPipeline,
    QAT2Quantize,
    SetFakeQuantState,
)
from hat.quantization.fake_quantize import (
    FakeQuantize,
    FakeQuantState,
    get_fake_quantize_state,
    set_fake_quantize,
)
from hat.quantization.mapping import register_qat_module
from hat.quantization.model_qconfig import default_set_qconfig
from hat.quantization.observers import (
    KLObserver,
    MinMaxObserver,
    MSEObserver,
    PercentileObserver,
    build_observer,
)
from hat.quantization.prepare import prepare_qat
from hat.quantization.qat.conv import freeze_bn_stats
from hat.quantization.qconfig import (
    QConfig,
    QuantSpec,
    get_default_qconfig,
    get_high_precision_qconfig,
)
from hat.quantization.qtensor import QTensor, QTensorOpError
from hat.quantization.utils import set_observer_averaging_constant

__all__ = [
    "Calibration2QAT",
    "Float2Calibration",
    "Float2QAT",
    "LoadCheckpoint",
    "ModelConvertPipeline",
    "QAT2Quantize",
    "SetFakeQuantState",
    "FakeQuantState",
    "FakeQuantize",
    "KLObserver",
    "MSEObserver",
    "MinMaxObserver",
    "PercentileObserver",
    "QConfig",
    "QTensor",
    "QTensorOpError",
    "QuantSpec",
    "build_observer",
    "convert",
    "default_set_qconfig",
    "freeze_bn_stats",
    "get_default_qconfig",
    "get_fake_quantize_state",
    "get_high_precision_qconfig",
    "is_int_model",
    "prepare_qat",
    "register_qat_module",
    "set_fake_quantize",
    "set_observer_averaging_constant",
]
