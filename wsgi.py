"""WSGI entry point: `flask --app wsgi ...`, gunicorn `wsgi:app`."""
import gc

from pixstock import create_app
from pixstock.extensions import socketio

app = create_app()
# Everything built so far lives as long as the process: keep it out of the garbage collector's full passes,
# which otherwise stop every thread for ~150 ms a few times a minute under load (bench/README.md, Galleries).
gc.freeze()

if __name__ == "__main__":
    import os

    # Development server with Socket.IO support (production runs gunicorn, see Procfile).
    # In-process mode: jobs and periodic sweeps run in threads of this process.
    app.extensions["pixstock_jobs"].start_background()
    socketio.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        allow_unsafe_werkzeug=True,
    )
