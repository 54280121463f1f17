"""`create_app(run)`: the FastAPI app behind `cnnlab serve`.

Endpoints: `GET /` (the page), `POST /predict` (JSON top-k), `POST /explain` (PNG),
`GET /model`, `GET /health`, `GET /report` (the run's report.html); OpenAPI docs at `/docs`.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from cnnlab.errors import CnnlabError
from cnnlab.serve.limits import BodySizeLimit
from cnnlab.serve.uploads import UploadError, check_size, decode_upload


def image_methods() -> list[str]:
    """The explain methods that take one uploaded image (the registry's per-image ones); the
    whole-split methods (embedding, top-images) and the image-free ones (filters, patterns)
    belong in the report and `cnnlab explain`."""
    from cnnlab.explain.methods import PER_IMAGE, methods

    return [m.name for m in methods() if m.kind == PER_IMAGE]


class ModelService:
    """The model, loaded once, and every use of it.

    One lock serialises model use: Grad-CAM and feature maps attach hooks to the shared model,
    and a forward pass of a concurrent /predict would run through those hooks and mix the two
    requests' activations. On CPU the forward passes use all cores anyway, so serialising costs
    little throughput (see benchmarks/bench_serve.py).
    """

    def __init__(self, run):
        from cnnlab.run import Run

        self.run = Run.open(run)
        self.loaded = self.run.model()
        self.run_dir = self.run.folder
        self.lock = threading.Lock()

    def predict(self, image, k: int) -> list[dict]:
        """The k most likely classes of one decoded image, most likely first."""
        from cnnlab.inference import predict_proba, top_k

        with self.lock:
            probs = predict_proba(self.loaded, [image])
        names = self.loaded.class_names
        return [{"class": name, "index": names.index(name), "probability": p} for name, p in top_k(probs, names, k)[0]]

    def explain_png(self, image, method: str, layer: str | None, target: int | str | None) -> tuple[bytes, str]:
        """The PNG figure of one explain method for one image, and its title."""
        from cnnlab.explain import explain

        array = image.permute(1, 2, 0).numpy()
        array = array[:, :, 0] if array.shape[2] == 1 else array
        with self.lock:
            result = explain(self.run, array, method=method, layer=layer or None, target=target)
        return result.png, result.title

    def conv_layers(self) -> list[str]:
        """Names of the conv layers in module order: the choices for feature maps."""
        import torch

        return [n for n, m in self.loaded.model.named_modules() if isinstance(m, torch.nn.Conv2d)]

    def info(self) -> dict:
        """What GET /model answers: classes, input size, parameters, layers."""
        pre = self.loaded.preprocessing
        model = self.loaded.model
        total = sum(p.numel() for p in model.parameters())
        frozen = (self.loaded.checkpoint or {}).get("frozen", {})
        layers = self.conv_layers()
        return {
            "architecture": (self.loaded.architecture or {}).get("name"),
            "checkpoint": str(self.loaded.path) if self.loaded.path else None,
            "class_names": list(self.loaded.class_names),
            "num_classes": len(self.loaded.class_names),
            "input_size": [pre.channels, *pre.input_size],
            "normalization": {"mean": list(pre.mean), "std": list(pre.std)},
            "parameters": total,
            "frozen_blocks": sorted(b for b, s in frozen.get("blocks", {}).items() if s == "frozen"),
            "conv_layers": layers,
            "default_layer": layers[-1] if layers else None,
            "explain_available": True,  # the page shows heatmaps when true
            "explain_methods": image_methods(),
            "report_available": self.report_path() is not None,
        }

    def report_path(self) -> Path | None:
        """The run's report.html, when it has been built."""
        from cnnlab.run import files

        path = self.run.file(files.REPORT)
        return path if path is not None and path.is_file() else None


def page_html() -> str:
    """The single self-contained page (inline CSS and JS, no external requests)."""
    return resources.files("cnnlab.serve").joinpath("page.html").read_text(encoding="utf-8")


def mount_offline_docs(app) -> None:
    """OpenAPI docs at /docs from Swagger UI files shipped in a package (swagger-ui-bundle):
    FastAPI's default page loads them from a CDN, which leaves /docs blank offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="cnnlab API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon-32x32.png")


def create_app(run, max_upload_mb: float = 10, top_k: int = 5):
    """A FastAPI app serving the model of `run` (a run folder, checkpoint file or LoadedModel).

    The model loads once, here. Uploads over `max_upload_mb` get 413, non-images 415, corrupt
    images 400; images of any mode and size are converted as in training.
    """
    if max_upload_mb <= 0:
        raise CnnlabError(f"max_upload_mb: {max_upload_mb} (expected a positive number of MB)")
    service = ModelService(run)
    max_bytes = int(max_upload_mb * 1e6)
    app = FastAPI(title="cnnlab", version="1", docs_url=None, redoc_url=None, description=(
        f"Predictions and explanations of {service.info()['architecture']} "
        f"({len(service.loaded.class_names)} classes). Images of any mode and size; "
        f"uploads up to {max_upload_mb:g} MB."))
    # Multipart framing adds a few hundred bytes; 64 kB of slack keeps the limit about the file.
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes + 65536, paths=("/predict", "/explain"))
    app.state.service = service

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(CnnlabError)
    async def user_error(request: Request, exc: CnnlabError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def read_upload(file: UploadFile) -> tuple:
        name = file.filename or "upload"
        data = file.file.read(max_bytes + 1)  # never more than the limit + 1 into memory
        check_size(data, name, max_bytes)
        return decode_upload(data, name, service.loaded.preprocessing.channels), name

    mount_offline_docs(app)
    methods = image_methods()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        info = service.info()
        return HTMLResponse(page_html().replace("/*MODEL_INFO*/null", json.dumps(info)))

    @app.get("/health")
    def health() -> dict:
        """Liveness: the model is loaded and answers."""
        return {"status": "ok", "architecture": service.info()["architecture"],
                "classes": len(service.loaded.class_names)}

    @app.get("/model")
    def model_info() -> dict:
        """Class names, input size (C, H, W), normalisation, parameters and conv layers."""
        return service.info()

    @app.post("/predict")
    def predict(file: UploadFile = File(..., description="An image file of any format, mode and size"),
                k: int = Form(top_k, ge=1, description="How many classes to return")) -> dict:
        """The top-k classes of an uploaded image with their probabilities."""
        image, name = read_upload(file)
        ranked = service.predict(image, min(k, len(service.loaded.class_names)))
        return {"filename": name, "prediction": ranked[0], "top_k": ranked,
                "image_size": [int(image.shape[1]), int(image.shape[2])]}

    @app.post("/explain", responses={200: {"content": {"image/png": {}}}})
    def explain_image(file: UploadFile = File(..., description="An image file"),
                      method: str = Form("gradcam", description=", ".join(methods)),
                      layer: Optional[str] = Form(None, description="Layer name (see GET /model); "
                                                  "default: the last conv layer"),
                      target: Optional[str] = Form(None, description="Class name or index to explain; "
                                                   "default: the predicted class")) -> Response:
        """A PNG figure explaining the model's answer on the image (Grad-CAM overlay, feature maps, ...)."""
        if method not in methods:
            raise UploadError(400, f"method: {method!r} (expected one of {', '.join(methods)})")
        image, _ = read_upload(file)
        png, title = service.explain_png(image, method, layer, _target(target))
        return Response(png, media_type="image/png", headers={"X-Cnnlab-Title": _header_text(title)})

    @app.get("/report", response_class=HTMLResponse)
    def report():
        """The run's report.html (build it with `cnnlab report RUN`)."""
        path = service.report_path()
        if path is None:
            return JSONResponse({"detail": f"no report.html in {service.run_dir}; "
                                           f"build it with: cnnlab report {service.run_dir}"}, status_code=404)
        return FileResponse(path, media_type="text/html")

    return app


def _target(text: str | None) -> int | str | None:
    if text is None or not text.strip():
        return None
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def _header_text(text: str) -> str:
    """HTTP headers are latin-1: keep the title readable, drop what cannot be sent."""
    return (text or "").encode("latin-1", "replace").decode("latin-1").replace("\n", " ")[:200]
