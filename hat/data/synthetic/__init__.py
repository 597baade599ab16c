"""Synthetic stand-ins for public datasets, written in the exact raw on-disk layouts."""
