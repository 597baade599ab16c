"""MOTR's query interaction module as its own deployed graph (HAT's ``..._qim`` config): the
recipe's ``track_embed`` on ``max_track_slots`` fixed slots (see ``MotrQim`` and
``qim_graph_config``). The seed uses it for calops, the fixed-point model, export, the model
checker and compilation; everything else uses ``motr_efficientnetb3_mot17.py`` (whose
export_hbir writes this graph too, as ``{task}.qim.int.onnx``, for the tracker's align_bpu).
"""

from motr_efficientnetb3_mot17 import *  # noqa: F401,F403

qim_graph_config(globals())  # noqa: F405
