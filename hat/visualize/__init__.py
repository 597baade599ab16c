"""Pictures: optical-flow colour coding, panels and ``.flo`` files."""

from hat.data.readers.flo import read_flo, write_flo
from hat.visualize.flow import (
    flow_error_map,
    flow_to_color,
    make_colorwheel,
    make_flow_panel,
    save_flow_visualization,
    wheel_legend,
)

__all__ = [
    "flow_error_map",
    "flow_to_color",
    "make_colorwheel",
    "make_flow_panel",
    "read_flo",
    "save_flow_visualization",
    "wheel_legend",
    "write_flo",
]
