"""cmp: a collaborative music player for Linux, run from the shell."""

__version__ = "0.1.0"
