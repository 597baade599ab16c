"""Accuracy debugging of quantized models (HAT's ``horizon_plugin_profiler`` counterparts).

* :func:`featuremap_similarity`: per-layer cosine / SQNR / max error (also in output LSB) of a
  float model against its calibration, QAT or integer model, matched by module name.
* :func:`sensitivity_ranking`: the task metric with one module quantized at a time
  (:func:`quantize_only`), ranked most harmful first.
* :func:`compare_int16`: recalibrate with the top-k modules in int16 activations and compare.

``tools/quant_analysis.py`` runs all three from a config; the writers produce text, HTML and
JSON reports.
"""

from hat.quantization.debug.capture import OutputRecorder, quantized_units, real_values
from hat.quantization.debug.evaluation import Evaluation, Evaluator, MetricSpec
from hat.quantization.debug.html_report import sensitivity_html, similarity_html
from hat.quantization.debug.int16_topk import (
    Int16Comparison,
    calibrate,
    compare_int16,
    config_snippet,
    int16_eligible,
    pick_int16_modules,
)
from hat.quantization.debug.runner import (
    batch_processor_runner,
    clone_batch,
    model_runner,
    take_batches,
)
from hat.quantization.debug.sensitivity import (
    SensitivityReport,
    SensitivityRow,
    quantize_only,
    sensitivity_candidates,
    sensitivity_ranking,
)
from hat.quantization.debug.similarity import (
    LayerSimilarity,
    SimilarityReport,
    featuremap_similarity,
)
from hat.quantization.debug.stats import DiffStats
from hat.quantization.debug.text_report import (
    int16_text,
    sensitivity_text,
    similarity_text,
    to_json,
)
from hat.quantization.debug.writer import write_report_files

__all__ = [
    "DiffStats",
    "Evaluation",
    "Evaluator",
    "Int16Comparison",
    "LayerSimilarity",
    "MetricSpec",
    "OutputRecorder",
    "SensitivityReport",
    "SensitivityRow",
    "SimilarityReport",
    "batch_processor_runner",
    "calibrate",
    "clone_batch",
    "compare_int16",
    "config_snippet",
    "featuremap_similarity",
    "int16_eligible",
    "int16_text",
    "model_runner",
    "pick_int16_modules",
    "quantize_only",
    "quantized_units",
    "real_values",
    "sensitivity_candidates",
    "sensitivity_html",
    "sensitivity_ranking",
    "sensitivity_text",
    "similarity_html",
    "similarity_text",
    "take_batches",
    "to_json",
    "write_report_files",
]
