"""The control plane's ``/v1`` REST API (Starlette), described at ``/v1/openapi.json``."""
