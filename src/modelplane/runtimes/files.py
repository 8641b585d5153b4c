"""Finding the one model file in a model directory, with errors that say what to do.

KServe's servers look at the top level of the model directory and insist on exactly one model
file; modelplane does the same, but names the directory, the files it saw and the fix, because
"model not found" is the first error every new user meets. Runtimes and the selector share
these helpers so that their messages agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

from modelplane.core import errors

#: What a runtime uses to say "this file is mine" (by suffix and, where needed, by content).
Recogniser = Callable[[Path], bool]

# Enough to see a format's signature without reading a large model into memory.
_HEAD_BYTES = 256


def listing(model_dir: Path | None, runtime: str) -> list[Path]:
    """The visible regular files at the top of `model_dir`, sorted; a file path lists itself."""
    if model_dir is None:
        raise errors.ModelLoadError(
            f"the {runtime} runtime needs a model directory: pass --storage-uri"
        )
    if model_dir.is_file():
        return [model_dir]
    if not model_dir.is_dir():
        raise errors.ModelLoadError(f"model directory {model_dir} does not exist")
    return sorted(
        path for path in model_dir.iterdir() if path.is_file() and not path.name.startswith(".")
    )


def head(path: Path) -> bytes:
    """The first bytes of `path`, or nothing when it cannot be read."""
    try:
        with path.open("rb") as stream:
            return stream.read(_HEAD_BYTES)
    except OSError:
        return b""


def names(paths: Iterable[Path]) -> str:
    """File names for an error message: `a.joblib, b.json`, or `no files`."""
    shown = [path.name for path in paths]
    return ", ".join(shown) if shown else "no files"


def suffixes(extensions: Sequence[str]) -> str:
    """`*.onnx, *.pt` for suffixes; a whole file name (`saved_model.pb`) as it is."""
    return ", ".join(f"*{ext}" if ext.startswith(".") else ext for ext in extensions)


def find_one(
    model_dir: Path | None, runtime: str, recognises: Recogniser, extensions: Sequence[str]
) -> Path:
    """The single file in `model_dir` that `recognises` accepts; `ModelLoadError` otherwise."""
    found = listing(model_dir, runtime)
    matches = [path for path in found if recognises(path)]
    if not matches:
        raise errors.ModelLoadError(
            f"no {runtime} model file in {model_dir}: expected one of {suffixes(extensions)}, "
            f"found {names(found)}; put the model file there, or pass the right --model-format"
        )
    if len(matches) > 1:
        raise errors.ModelLoadError(
            f"{len(matches)} {runtime} model files in {model_dir}: {names(matches)}; "
            "keep one model file in the directory"
        )
    return matches[0]


T = TypeVar("T")


def open_with(
    platform: str,
    path: Path,
    opener: Callable[[Path], T],
    failure: str,
    summary: Callable[[BaseException], str],
) -> T:
    """`opener(path)`, its failures turned into `ModelLoadError`s that say what to do.

    A missing framework asks for the runtime's extra; anything else a corrupt or foreign file
    raises (in framework-specific ways) becomes `failure: <summary of the error>`.
    """
    try:
        return opener(path)
    except errors.ModelplaneError:
        raise
    except ImportError as exc:
        raise errors.ModelLoadError(
            f"the {platform} runtime needs its framework: "
            f"pip install 'modelplane[{platform}]' ({exc})"
        ) from exc
    except Exception as exc:
        raise errors.ModelLoadError(f"{failure}: {summary(exc)}") from exc


class SingleFile:
    """For runtimes whose model is one file in the model directory, known by its suffix.

    A runtime lists its `model_extensions`; one that shares a suffix with another runtime
    overrides `recognises` to look inside the file.
    """

    platform: str
    #: File suffixes this runtime reads, for messages and the default `recognises`.
    model_extensions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def recognises(cls, path: Path) -> bool:
        """Whether `path` looks like a model file of this runtime."""
        return path.suffix.lower() in cls.model_extensions

    @classmethod
    def find_model_file(cls, model_dir: Path | None) -> Path:
        """The one model file of this runtime in `model_dir`; `ModelLoadError` otherwise."""
        return find_one(model_dir, cls.platform, cls.recognises, cls.model_extensions)
