"""MOTR's query interaction module as its own deployed graph (HAT's ``..._qim`` config): the
recipe's ``track_embed`` on ``max_track_slots`` fixed slots (see ``MotrQim``). The seed uses it
for calops, the fixed-point model, export, the model checker and compilation; everything else
uses ``motr_efficientnetb3_mot17.py``.
"""

import torch
from motr_efficientnetb3_mot17 import *  # noqa: F401,F403

task_name = "motr_efficientnetb3_mot17_qim"
base_model = model
model = dict(type="MotrQim", track_embed=base_model["track_embed"])


def make_qim_deploy_inputs(slots=max_track_slots, width=d_model):
    """Example inputs: ``query_pos (1, S, 2d)``, ``output_embedding (1, S, d)``,
    ``mask_query (1, S)`` (the tracks' reference points, ``inverse_sigmoid`` of their box
    centres, are computed by the post-processing between the two graphs)."""
    return dict(
        query_pos=torch.randn(1, slots, 2 * width),
        output_embedding=torch.randn(1, slots, width),
        mask_query=torch.ones(1, slots),
    )


deploy_inputs = make_qim_deploy_inputs()
