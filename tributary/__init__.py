"""Tributary's local toolkit: runs the SAM application of this repository on one machine."""

__version__ = "0.1.0"
