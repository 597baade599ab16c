"""Pictures: optical-flow colour coding, panels and ``.flo`` files; stereo disparity and depth
colour maps; segmentation colouring."""

from hat.data.readers.flo import read_flo, write_flo
from hat.visualize.disparity import (
    depth_from_disparity,
    depth_to_color,
    disparity_error_map,
    disparity_to_color,
    make_disparity_panel,
    save_disparity_visualization,
)
from hat.visualize.flow import (
    flow_error_map,
    flow_to_color,
    make_colorwheel,
    make_flow_panel,
    save_flow_visualization,
    wheel_legend,
)
from hat.visualize.segmentation import (
    blend_overlay,
    colorize_ids,
    make_seg_panel,
    save_seg_visualization,
    seg_error_map,
    seg_legend,
)

__all__ = [
    "blend_overlay",
    "colorize_ids",
    "depth_from_disparity",
    "depth_to_color",
    "disparity_error_map",
    "disparity_to_color",
    "flow_error_map",
    "flow_to_color",
    "make_colorwheel",
    "make_disparity_panel",
    "make_flow_panel",
    "make_seg_panel",
    "read_flo",
    "save_disparity_visualization",
    "save_flow_visualization",
    "save_seg_visualization",
    "seg_error_map",
    "seg_legend",
    "wheel_legend",
    "write_flo",
]
