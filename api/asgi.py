"""The ASGI application for servers (``uvicorn api.asgi:app``), configured from the environment."""

from __future__ import annotations

from api.main import create_app

app = create_app()
