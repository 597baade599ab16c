"""One ONNX output order: nested outputs flattened depth-first and rebuilt."""

import torch

from hat.infer import flatten_outputs
from hat.quantization.output_order import named_outputs, output_tensors, outputs_like


def test_nested_outputs_round_trip():
    a, b, c, d = (torch.full((1,), float(i)) for i in range(4))
    out = {"flow": a, "levels": [b, (c, d)], "meta": None}
    assert [n for n, _ in named_outputs(out)] == ["flow", "levels_0", "levels_1_0", "levels_1_1"]
    flat = output_tensors(out)
    assert [float(t) for t in flat] == [0, 1, 2, 3]
    assert [float(t) for t in flatten_outputs(out)] == [0, 1, 2, 3]  # the tools' order too
    back = outputs_like(out, [t + 10 for t in flat])
    assert float(back["levels"][1][1]) == 13 and isinstance(back["levels"][1], tuple)
    assert back["meta"] is None
    assert [n for n, _ in named_outputs(a)] == ["output"]
