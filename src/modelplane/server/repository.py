"""The model repository of one server: which models exist, their versions and their state.

A model comes either from a spec (name + storage URI + format or class), which the repository can
load, unload and load again, or as a ready-made object (`ModelServer().start([model])`). Loading
runs off the event loop so health and metadata keep answering while a large model downloads.
A directory whose subdirectories are all numbers (`1/`, `2/`) holds one version per subdirectory,
as in Triton; requests without a version go to the highest.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelplane.core import errors
from modelplane.core.model import Model, is_ready

log = logging.getLogger(__name__)

READY, LOADING, UNAVAILABLE = "READY", "LOADING", "UNAVAILABLE"


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model: what `modelplane serve` was told about it."""

    name: str
    storage_uri: str | None = None
    model_format: str | None = None
    model_class: str | None = None


# Builds the unloaded models of every version a spec holds, keyed by version (None: unversioned).
Builder = Callable[[ModelSpec], dict[str | None, Model]]


@dataclass
class _Entry:
    spec: ModelSpec | None
    versions: dict[str | None, Model] = field(default_factory=dict)
    state: str = UNAVAILABLE
    reason: str = ""
    # False once unloaded through the API: then the model neither serves nor counts
    # against the server's readiness, as in Triton.
    wanted: bool = True

    @property
    def default_version(self) -> str | None:
        keys = [v for v in self.versions if v is not None]
        return max(keys, key=int) if keys else None


class ModelRepository:
    def __init__(self, builder: Builder) -> None:
        self._builder = builder
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def add_spec(self, spec: ModelSpec) -> None:
        self._entries.setdefault(spec.name, _Entry(spec))

    def add_model(self, model: Model) -> None:
        """Register a model object that its author has built (and perhaps loaded) already."""
        self._entries[model.name] = _Entry(None, {model.version: model}, LOADING)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str, version: str | None = None) -> Model:
        """The model to serve a request; 404 if unknown, 503 if it is not loaded."""
        entry = self._entries.get(name)
        if entry is None:
            raise errors.ModelNotFound(name)
        if not entry.wanted:
            raise errors.ModelUnloaded(name)
        if entry.state != READY:
            raise errors.ModelNotReady(name)
        if version is None:
            version = entry.default_version
        model = entry.versions.get(version)
        if model is None:
            raise errors.ModelNotFound(name, version)
        return model

    def versions(self, name: str) -> list[str]:
        entry = self._entries.get(name)
        if entry is None:
            raise errors.ModelNotFound(name)
        return sorted((v for v in entry.versions if v is not None), key=int)

    async def is_ready(self, name: str, version: str | None = None) -> bool:
        try:
            model = self.get(name, version)
        except (errors.ModelNotReady, errors.ModelUnloaded):
            return False
        return await is_ready(model)

    async def all_ready(self) -> bool:
        """Whether every model meant to be loaded is ready (none unloaded through the API)."""
        if not self._entries:
            return False
        for name, entry in self._entries.items():
            if entry.wanted and not await self.is_ready(name):
                return False
        return True

    def index(self) -> list[dict[str, str]]:
        rows = []
        for name, entry in self._entries.items():
            versions: list[str | None] = [v for v in entry.versions if v is not None]
            for version in versions or [None]:
                row = {"name": name, "state": entry.state, "reason": entry.reason}
                if version is not None:
                    row["version"] = version
                rows.append(row)
        return rows

    async def load(self, name: str) -> None:
        """Load (or reload) a model; on failure the model is UNAVAILABLE with the reason."""
        entry = self._entries.get(name)
        if entry is None:
            raise errors.ModelNotFound(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            old = entry.versions if entry.state == READY else {}
            entry.state, entry.reason, entry.wanted = LOADING, "", True
            try:
                if entry.spec is not None:
                    entry.versions = await asyncio.to_thread(self._builder, entry.spec)
                for model in entry.versions.values():
                    await _load(model)
            except Exception as exc:
                entry.state = UNAVAILABLE
                entry.reason = str(exc)
                log.error("model '%s' failed to load: %s", name, exc)
                if isinstance(exc, errors.ModelplaneError):
                    raise
                raise errors.ModelLoadError(f"model '{name}' failed to load: {exc}") from exc
            entry.state = READY
            for model in old.values():
                if all(model is not m for m in entry.versions.values()):
                    await _stop(model)
            log.info("model '%s' is ready (versions: %s)", name, self.versions(name) or "-")

    async def unload(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is None:
            raise errors.ModelNotFound(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            entry.state, entry.reason, entry.wanted = UNAVAILABLE, "unloaded", False
            for model in entry.versions.values():
                await _stop(model)
            if entry.spec is not None:
                entry.versions = {}

    async def load_all(self) -> None:
        await asyncio.gather(*(self.load(name) for name in self._entries))

    async def unload_all(self) -> None:
        for name in list(self._entries):
            await self.unload(name)


async def _load(model: Model) -> None:
    if await is_ready(model):
        return
    if inspect.iscoroutinefunction(model.load):
        loaded = await model.load()
    else:
        loaded = await asyncio.to_thread(model.load)
    # KServe models signal success by returning True; some never set `ready` themselves.
    if loaded is True and not callable(model.ready):
        model.ready = True
    if not await is_ready(model):
        raise errors.ModelLoadError(f"model '{model.name}' finished load() but is not ready")


async def _stop(model: Model) -> None:
    try:
        if inspect.iscoroutinefunction(model.stop):
            await model.stop()
        else:
            model.stop()
    except Exception:
        log.exception("model '%s' raised while stopping", model.name)


def version_dirs(path: Path) -> dict[str | None, Path]:
    """The versions a model directory holds: numbered subdirectories, or itself unversioned."""
    if path.is_dir():
        children = [p for p in path.iterdir() if not p.name.startswith(".")]
        if children and all(p.is_dir() and p.name.isdigit() for p in children):
            return {p.name: p for p in children}
    return {None: path}
