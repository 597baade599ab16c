"""hat: an open training and quantization toolkit for autonomous-driving perception."""

__version__ = "0.1.0"
