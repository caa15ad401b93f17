"""monitor: where are reported URLs hosted, and when do their hosters move."""
__version__ = "0.1.0"
