"""Models: backbones, heads, losses and task modules (registered in ``OBJECT_REGISTRY``)."""

from hat.models import backbones, heads, losses, necks, structures

__all__ = ["backbones", "heads", "losses", "necks", "structures"]
from hat.models import task_modules  # noqa: E402

__all__ += ["task_modules"]
from hat.models import view_transformers  # noqa: E402

__all__ += ["view_transformers"]
