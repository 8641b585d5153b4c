"""KServe's image-only runtimes, run as the local command that does the same job.

KServe's own ServingRuntimes name an image and leave the program to the image's entrypoint
(`kserve/sklearnserver` runs its model server on `--model_name`, `--model_dir`, `--http_port`),
or name the program inside the image (`/usr/bin/tensorflow_model_server`). modelplane starts
processes, not images, so for the images it knows it runs the modelplane command that does the
same job, with the container's args translated: the model directory KServe's storage initializer
fills (`/mnt/models`) becomes the predictor's `storageUri`, which the command fetches itself,
and the fixed container ports become the replica's private ports. Args with no counterpart pass
through unchanged, so the command says plainly what it does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

MOUNT = "/mnt/models"  # where KServe's storage initializer puts the model


@dataclass(frozen=True)
class Context:
    name: str  # the InferenceService's
    storage_uri: str | None


Translate = Callable[[list[str], Context], list[str]]


def _split(args: Sequence[str]) -> list[tuple[str, str | None]]:
    """`--flag=value`, `--flag value` and bare tokens as (token, value) pairs."""
    out: list[tuple[str, str | None]] = []
    items = list(args)
    while items:
        arg = items.pop(0)
        if not arg.startswith("-"):
            out.append((arg, None))
        elif "=" in arg:
            flag, value = arg.split("=", 1)
            out.append((flag, value))
        elif items and not items[0].startswith("-"):
            out.append((arg, items.pop(0)))
        else:
            out.append((arg, None))
    return out


def _storage(value: str | None, ctx: Context, hub: bool = False) -> str:
    """A path under KServe's mount is that path under the predictor's storageUri; with `hub`,
    a bare `org/name` is a Hugging Face Hub id (as vLLM's `--model` takes it)."""
    if hub and value and "://" not in value and not value.startswith(("/", ".", "~")):
        return f"hf://{value}"
    if value is None or ctx.storage_uri is None or not value.startswith(MOUNT):
        return value or ctx.storage_uri or ""
    rest = value[len(MOUNT) :].strip("/")
    return ctx.storage_uri.rstrip("/") + ("/" + rest if rest else "")


def _rewrite(
    args: Sequence[str],
    ctx: Context,
    renames: dict[str, str | None],
    storage_flags: set[str],
    hub: bool = False,
) -> list[str]:
    """Each flag in `renames` under its new name (None: dropped); storage flags mapped."""
    out: list[str] = []
    for flag, value in _split(args):
        if flag in renames:
            new = renames[flag]
            if new is None:
                continue
            if flag in storage_flags:
                value = _storage(value, ctx, hub)
            flag = new
        out.append(flag if value is None else f"{flag}={value}")
    return out


def _ensure(out: list[str], defaults: dict[str, str | None]) -> list[str]:
    given = {a.split("=", 1)[0] for a in out}
    return out + [f"{f}={v}" for f, v in defaults.items() if f not in given and v]


def _triton(args: list[str], ctx: Context) -> list[str]:
    if args[:1] == ["tritonserver"]:
        args = args[1:]
    storage = {"--model-store", "--model-repository"}
    renames: dict[str, str | None] = {f: "--model-repository" for f in storage}
    renames |= {"--http-port": None, "--grpc-port": None}  # the replica's ports, below
    out = _rewrite(args, ctx, renames, storage)
    ports = {"--http-port": "{http_port}", "--grpc-port": "{grpc_port}"}
    return ["tritonserver", *_ensure(out, {"--model-repository": ctx.storage_uri, **ports})]


def _serve(
    model_format: str,
    renames: dict[str, str | None],
    storage: set[str],
    hub: bool = False,
    fixed: tuple[str, ...] = (),
) -> Translate:
    """`modelplane serve` for one format, KServe's or another server's flags renamed, and the
    `fixed` args that make it the same server (vLLM's image: the vLLM backend)."""

    def translate(args: list[str], ctx: Context) -> list[str]:
        every = {**renames, "--http_port": None, "--grpc_port": None}
        every |= {"--http-port": None, "--grpc-port": None}
        out = _rewrite(args, ctx, every, storage, hub)
        defaults = {
            "--model-name": ctx.name,
            "--storage-uri": ctx.storage_uri,
            "--http-port": "{http_port}",
            "--grpc-port": "{grpc_port}",
        }
        return ["serve", f"--model-format={model_format}", *fixed, *_ensure(out, defaults)]

    return translate


_KSERVE: dict[str, str | None] = {"--model_name": "--model-name", "--model_dir": "--storage-uri"}
_TF_SERVING: dict[str, str | None] = {
    "--model_name": "--model-name",
    "--model_base_path": "--storage-uri",
    "--rest_api_port": None,
    "--port": None,  # TF Serving's own gRPC API; the replica speaks the V2 gRPC one
    "--rest_api_timeout_in_ms": None,  # the InferenceService's timeout bounds a request
}
_VLLM: dict[str, str | None] = {
    "--model": "--storage-uri",
    "--served-model-name": "--model-name",
    "--port": None,
    "--host": None,
}

#: image repository -> (program names inside the image, translation)
IMAGES: dict[str, tuple[tuple[str, ...], Translate]] = {
    "nvcr.io/nvidia/tritonserver": (("tritonserver",), _triton),
    "kserve/sklearnserver": ((), _serve("sklearn", _KSERVE, {"--model_dir"})),
    "kserve/xgbserver": ((), _serve("xgboost", _KSERVE, {"--model_dir"})),
    "kserve/lgbserver": ((), _serve("lightgbm", _KSERVE, {"--model_dir"})),
    "kserve/huggingfaceserver": ((), _serve("huggingface", _KSERVE, {"--model_dir"})),
    "tensorflow/serving": (
        ("tensorflow_model_server",),
        _serve("tensorflow", _TF_SERVING, {"--model_base_path"}),
    ),
    "vllm/vllm-openai": (
        (),
        _serve("huggingface", _VLLM, {"--model"}, hub=True, fixed=("--backend=vllm",)),
    ),
}


def repository(image: str) -> str:
    """`docker.io/kserve/sklearnserver:v0.14@sha256:...` -> `kserve/sklearnserver`."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    if ":" in ref[slash + 1 :]:
        ref = ref[: ref.rindex(":")]
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    return ref.removeprefix("library/")


def local_command(
    image: str | None, command: Sequence[str], args: Sequence[str], ctx: Context
) -> list[str] | None:
    """modelplane's argv (after the program) doing what `image` does, or None if unknown.

    It applies to a container that leaves the program to the image (no `command`) or names the
    image's own program; any other command is the user's and runs as written."""
    known = IMAGES.get(repository(image or ""))
    if known is None:
        return None
    programs, translate = known
    if command and command[0].rsplit("/", 1)[-1] not in programs:
        return None
    return translate([*command[1:], *args], ctx) if command else translate(list(args), ctx)


def known_images() -> list[str]:
    return sorted(IMAGES)
