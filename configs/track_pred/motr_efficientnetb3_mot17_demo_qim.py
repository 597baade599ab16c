"""The demo's query interaction module graph (as ``motr_efficientnetb3_mot17_qim.py`` for the
recipe): calops, model_checker, export_hbir and compile_perf_hbir of the QIM graph of
``motr_efficientnetb3_mot17_demo.py``."""

from motr_efficientnetb3_mot17_demo import *  # noqa: F401,F403

qim_graph_config(globals())  # noqa: F405
