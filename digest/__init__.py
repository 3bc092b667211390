"""digest: a daily insight digest and newsletter generator.

Reads feeds and seed documents, keeps the few insights worth a reader's time,
and publishes them as an email and a static archive.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
