"""The tiny MOTR stage config's query interaction module graph (as the recipe's ``_qim`` config)."""

from .tiny_motr_stages_config import *  # noqa: F401,F403

qim_graph_config(globals())  # noqa: F405
