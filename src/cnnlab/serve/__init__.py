"""The local web app of a run: a page to try the model on an image, and a JSON/PNG API.

    from cnnlab.serve import create_app
    app = create_app("runs/exp")            # FastAPI app; `cnnlab serve runs/exp` runs it with uvicorn
"""

from cnnlab.serve.app import create_app
from cnnlab.serve.server import running_server, serve

__all__ = ["create_app", "running_server", "serve"]
