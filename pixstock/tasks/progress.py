"""Live progress over Socket.IO, from the web process or from a worker through Redis."""
from ..extensions import socketio


def emit(event: str, data: dict, room: str) -> None:
    """Send event to every socket in room (works from request handlers and jobs alike)."""
    socketio.emit(event, data, to=room)
