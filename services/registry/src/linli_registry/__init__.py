"""Linli registry: communities, grids, households and their members."""
