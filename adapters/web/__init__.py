"""The web door: server-rendered pages, the HTTP API, and chat over a WebSocket."""

from adapters.web.app import create_app
from adapters.web.door import WebDoor

__all__ = ["WebDoor", "create_app"]
