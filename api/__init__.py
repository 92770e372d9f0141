"""MUSEED web service: FastAPI app, one sub-package per domain, DB models and migrations."""
