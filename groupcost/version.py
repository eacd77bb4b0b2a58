"""The version, on its own: hatch reads it here, and the documents and `--version` import it without loading the package."""

__version__ = "0.2.0"
