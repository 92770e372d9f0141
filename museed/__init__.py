"""MUSEED shared kit: settings, the FMA catalog, the synthetic corpus and the `museed` CLI."""

__version__ = "0.1.0"
