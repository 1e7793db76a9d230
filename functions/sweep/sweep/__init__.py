"""Sweep: finds raw objects that never made it into a run and sends them down the normal path."""
