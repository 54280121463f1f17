"""`create_app(run)`: the FastAPI app behind `cnnlab serve`.

Endpoints: `GET /` (the page), `POST /predict` (JSON top-k), `POST /explain` (PNG),
`GET /model`, `GET /health`, `GET /report` (the run's report.html); OpenAPI docs at `/docs`.

Hardened against an attacker and a careless user (issue 19): the `Host` header must name the
interface the app was bound to (DNS rebinding), class names reach the page as escaped JSON,
/report serves only a regular file inside the run, model work is bounded (busy → 503), large
uploads are decoded at reduced size, and an answer that is not finite is never a 200.
"""

from __future__ import annotations

import json
import math
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cnnlab.errors import CnnlabError
from cnnlab.serve.limits import BodySizeLimit
from cnnlab.serve.uploads import UploadError, check_size, decode_upload


def image_methods() -> list[str]:
    """The explain methods that take one uploaded image (the registry's per-image ones); the
    whole-split methods (embedding, top-images) and the image-free ones (filters, patterns)
    belong in the report and `cnnlab explain`."""
    from cnnlab.explain.methods import PER_IMAGE, methods

    return [m.name for m in methods() if m.kind == PER_IMAGE]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_CLASS_NAME = 200


def allowed_hosts(host: str) -> list[str]:
    """The `Host` header values the app answers when bound to `host` (ports are not compared).

    A loopback server answers its loopback names only: a web page whose name an attacker
    re-points at 127.0.0.1 (DNS rebinding) sends its own name and gets 400. Bound to every
    interface (0.0.0.0 or ::), the names are the network's, so any is accepted.
    """
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return sorted({*LOOPBACK_HOSTS, host if ":" not in host else f"[{host}]"})
    return [f"[{host}]" if ":" in host else host]


def check_class_names(names, source: str) -> None:
    """Refuse class names a page or a file name should not carry: empty, over 200 characters,
    control characters, duplicates (they are shown, embedded in the page and written in CSVs)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        where = f"{source}: class_names[{i}]"
        if not isinstance(name, str) or not name:
            raise CnnlabError(f"{where} is empty or not text ({name!r}); expected a non-empty name")
        shown = repr(name if len(name) <= 40 else name[:40] + "…")
        if len(name) > MAX_CLASS_NAME:
            raise CnnlabError(f"{where} {shown} is longer than {MAX_CLASS_NAME} characters ({len(name)})")
        if any(unicodedata.category(c) == "Cc" for c in name):
            raise CnnlabError(f"{where} {shown} holds a control character; expected printable text")
        if name in seen:
            raise CnnlabError(f"{where} {shown} appears twice; class names must be unique")
        seen.add(name)


def check_finite_weights(model, source: str) -> None:
    """Refuse a model with NaN or inf weights: it would answer NaN for every image."""
    import torch

    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CnnlabError(f"{source}: weight {name} is not finite (NaN or inf); the checkpoint is damaged "
                              "or training diverged: serve an earlier checkpoint")


def page_json(value) -> str:
    """JSON safe inside an HTML <script>: `<`, `>` and `&` as \\u escapes (no `</script>` or `<!--`
    breakout), and U+2028/U+2029 escaped for old JavaScript parsers. JSON.parse reads it unchanged."""
    text = json.dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


class HostCheck:
    """ASGI middleware: Starlette's TrustedHostMiddleware decides; a refusal is answered with a
    JSON line naming the header and the names expected rather than its bare "Invalid host header"."""

    def __init__(self, app, allowed_hosts: list[str]):
        self.app = app
        self.allowed = allowed_hosts
        self.trusted = TrustedHostMiddleware(self._passed, allowed_hosts=allowed_hosts)

    @staticmethod
    async def _passed(scope, receive, send) -> None:
        scope["cnnlab.host_ok"] = True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def discard(message) -> None:
            pass

        await self.trusted(scope, receive, discard)
        if scope.pop("cnnlab.host_ok", False):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")[:100]
        response = JSONResponse({"detail": f"Host header: {host!r} is not a name of this server (expected "
                                           f"{', '.join(self.allowed)}; serve another name with --host)"},
                                status_code=400)
        await response(scope, receive, send)


NOT_FINITE = "the model's answer is not finite (NaN or inf probabilities): its weights overflow on this image"


class Busy(CnnlabError):
    """Every model slot is taken and the queue is full: answer 503 with Retry-After."""


class ModelService:
    """The model, loaded once, and every use of it.

    One lock serialises model use: Grad-CAM and feature maps attach hooks to the shared model,
    and a forward pass of a concurrent /predict would run through those hooks and mix the two
    requests' activations. On CPU the forward passes use all cores anyway, so serialising costs
    little throughput (see benchmarks/bench_serve.py).

    Work is bounded: uploads are decoded and run on `workers` threads of the service's own
    (decoding a large upload is the memory peak), at most `queue` more wait, and the rest are
    refused at once with `Busy` (503) instead of piling up threads and memory. Own threads
    rather than a semaphore in the server's 40-thread pool: glibc gives each thread that
    decodes a large image an arena that keeps the freed buffers, so 8 uploads over 8 threads
    held 2.2 GB where 2 threads hold under 1 GB (measured with tests/webapp/test_abuse.py).
    """

    def __init__(self, run, workers: int = 2, queue: int = 16):
        from cnnlab.run import Run

        if workers < 1 or queue < 0:
            raise CnnlabError(f"workers: {workers}, queue: {queue} (expected workers ≥ 1 and queue ≥ 0)")
        self.run = Run.open(run)
        self.loaded = self.run.model()
        self.run_dir = self.run.folder
        source = str(self.loaded.path or self.run_dir or "the model")
        check_class_names(self.loaded.class_names, source)
        check_finite_weights(self.loaded.model, source)
        self.lock = threading.Lock()
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="cnnlab-model")
        self.admitted = threading.BoundedSemaphore(workers + queue)

    def do(self, work, *args):
        """`work(*args)` on one of the service's `workers` threads; Busy when `queue` already wait."""
        if not self.admitted.acquire(blocking=False):
            raise Busy("the server is busy: every model slot is taken and the queue is full; retry shortly")
        try:
            return self.pool.submit(work, *args).result()
        finally:
            self.admitted.release()

    def min_side(self) -> int:
        """Uploads are decoded down to no less than twice the model's input side (the resize to
        the input that follows keeps its antialiasing, so answers match a full-size decode)."""
        return 2 * max(self.loaded.preprocessing.input_size)

    def predict(self, image, k: int) -> list[dict]:
        """The k most likely classes of one decoded image, most likely first."""
        from cnnlab.inference import predict_proba, top_k

        with self.lock:
            probs = predict_proba(self.loaded, [image])
        if not all(math.isfinite(float(p)) for p in probs.ravel()):
            raise UploadError(422, NOT_FINITE)
        names = self.loaded.class_names
        return [{"class": name, "index": names.index(name), "probability": p} for name, p in top_k(probs, names, k)[0]]

    def explain_png(self, image, method: str, layer: str | None, target: int | str | None) -> tuple[bytes, str]:
        """The PNG figure of one explain method for one image, and its title."""
        from cnnlab.explain import explain

        array = image.permute(1, 2, 0).numpy()
        array = array[:, :, 0] if array.shape[2] == 1 else array
        with self.lock:
            result = explain(self.run, array, method=method, layer=layer or None, target=target)
        if result.prediction and not math.isfinite(float(result.prediction.get("probability", 0.0))):
            raise UploadError(422, NOT_FINITE)
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
        """The run's report.html, when it has been built and is safe to serve."""
        try:
            return self.checked_report()
        except FileNotFoundError:
            return None

    def checked_report(self) -> Path:
        """The run's report.html: a regular file inside the run folder, not a symbolic link.
        Raises FileNotFoundError with the reason otherwise (a link to /etc/passwd was served)."""
        import os
        import stat

        from cnnlab.run import files

        path = self.run.file(files.REPORT)
        if path is None or self.run_dir is None:
            raise FileNotFoundError(f"no report.html in {self.run_dir}; build it with: cnnlab report {self.run_dir}")
        if path.is_symlink():
            raise FileNotFoundError(f"{path} is a symbolic link; only a regular file inside the run is served")
        try:
            mode = os.stat(path, follow_symlinks=False).st_mode
        except OSError:
            raise FileNotFoundError(f"no report.html in {self.run_dir}; build it with: cnnlab report {self.run_dir}") \
                from None
        if not stat.S_ISREG(mode):
            raise FileNotFoundError(f"{path} is not a regular file; rebuild it with: cnnlab report {self.run_dir}")
        run_dir = Path(self.run_dir).resolve()
        if not path.resolve().is_relative_to(run_dir):
            raise FileNotFoundError(f"{path} leaves the run folder {run_dir} (a linked folder on the way)")
        return path


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


def create_app(run, max_upload_mb: float = 10, top_k: int = 5, host: str = "127.0.0.1",
               workers: int = 2, queue: int = 16):
    """A FastAPI app serving the model of `run` (a run folder, checkpoint file or LoadedModel).

    The model loads once, here. Uploads over `max_upload_mb` get 413, non-images 415, corrupt
    images 400; images of any mode and size are converted as in training. Requests whose `Host`
    is not a name of `host` (the interface the server binds) get 400. At most `workers` uploads
    are decoded and run at once and `queue` more wait; further ones get 503 with Retry-After.
    """
    if not (isinstance(max_upload_mb, (int, float)) and math.isfinite(max_upload_mb) and max_upload_mb > 0):
        raise CnnlabError(f"max_upload_mb: {max_upload_mb} (expected a positive number of MB)")
    service = ModelService(run, workers=workers, queue=queue)
    max_bytes = int(max_upload_mb * 1e6)
    app = FastAPI(title="cnnlab", version="1", docs_url=None, redoc_url=None, description=(
        f"Predictions and explanations of {service.info()['architecture']} "
        f"({len(service.loaded.class_names)} classes). Images of any mode and size; "
        f"uploads up to {max_upload_mb:g} MB."))
    # Multipart framing adds a few hundred bytes; 64 kB of slack keeps the limit about the file.
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes + 65536, paths=("/predict", "/explain"))
    app.add_middleware(HostCheck, allowed_hosts=allowed_hosts(host))  # outermost: the first check
    app.state.service = service

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(CnnlabError)
    async def user_error(request: Request, exc: CnnlabError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def read_upload(file: UploadFile) -> tuple[bytes, str]:
        """The upload's bytes (size-checked) and file name."""
        name = file.filename or "upload"
        data = file.file.read(max_bytes + 1)  # never more than the limit + 1 into memory
        check_size(data, name, max_bytes)
        return data, name

    def decode(data: bytes, name: str) -> tuple:
        """(image reduced toward the model's input, the upload's (height, width)). Runs on the
        service's threads (`service.do`): decoding is the memory peak of a request."""
        return decode_upload(data, name, service.loaded.preprocessing.channels, service.min_side())

    mount_offline_docs(app)
    methods = image_methods()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        info = service.info()
        return HTMLResponse(page_html().replace("/*MODEL_INFO*/null", page_json(info)))

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
        data, name = read_upload(file)

        def work() -> tuple:
            image, size = decode(data, name)
            return size, service.predict(image, min(k, len(service.loaded.class_names)))

        size, ranked = service.do(work)
        return {"filename": name, "prediction": ranked[0], "top_k": ranked, "image_size": list(size)}

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
        data, name = read_upload(file)

        def work() -> tuple[bytes, str]:
            image, _ = decode(data, name)
            return service.explain_png(image, method, layer, _target(target))

        png, title = service.do(work)
        return Response(png, media_type="image/png", headers={"X-Cnnlab-Title": _header_text(title)})

    @app.get("/report", response_class=HTMLResponse)
    def report():
        """The run's report.html (build it with `cnnlab report RUN`)."""
        try:
            path = service.checked_report()
        except FileNotFoundError as e:
            return JSONResponse({"detail": str(e)}, status_code=404)
        return FileResponse(path, media_type="text/html")

    return app


def _target(text: str | None) -> str | None:
    """The form's target as given (a class name or index; explain's class_index checks it)."""
    return None if text is None or not text.strip() else text


def _header_text(text: str) -> str:
    """HTTP headers are latin-1: keep the title readable, drop what cannot be sent."""
    return (text or "").encode("latin-1", "replace").decode("latin-1").replace("\n", " ")[:200]
