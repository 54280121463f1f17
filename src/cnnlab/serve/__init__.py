"""The local web app of a run: a page to try the model on an image, and a JSON/PNG API.

    from cnnlab.serve import create_app
    app = create_app("runs/exp")            # FastAPI app; `cnnlab serve runs/exp` runs it with uvicorn

`serve(run)` runs it with uvicorn; `cnnlab.serve.server.running_server` starts one for tests.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    # Imported on first use: `cnnlab --help` registers `cnnlab serve` without loading FastAPI or torch.
    if name == "create_app":
        from cnnlab.serve.app import create_app

        return create_app
    if name == "serve":
        from cnnlab.serve.server import serve

        return serve
    raise AttributeError(f"module 'cnnlab.serve' has no attribute {name!r}")
