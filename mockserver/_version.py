"""The distribution's version, read by hatchling and reported by /__mock/health."""

__version__ = "0.1.0"
