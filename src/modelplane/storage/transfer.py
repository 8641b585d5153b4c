"""Getting one URL through failures: retries with backoff, and resuming with `Range`.

A model download that breaks at 95% should not start again from zero, and a server that is
briefly overloaded (5xx, 429, 408) or a connection that drops should not fail a replica's start.
`Downloader.save` keeps the bytes already written and asks for the rest with `Range: bytes=N-`,
guarded by `If-Range` with the first answer's strong ETag or Last-Modified, so an object that
changed in between comes back whole and is never spliced onto the old one's head. A server that
ignores the range (200), or answers one that does not continue the file (`Content-Range`), gets
a restart from zero. Any other error status is the caller's `check` to report, at once.

The waits grow exponentially with jitter; `Retry` takes the sleep and the jitter as arguments
so tests never sleep. httpx is imported by the providers that pass a client in; this module
needs it only for its exception classes, imported when a request is made.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from modelplane.core import errors
from modelplane.storage import progress

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

#: Answers that say "not now" rather than "no": worth another try.
_RETRIED = frozenset({408, 429})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class Transient(Exception):
    """A failure worth another try; `error` is what the user is told when no try is left."""

    def __init__(self, error: errors.StorageError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class Retry:
    """How often to try, and how long to wait between tries."""

    attempts: int = 5
    #: The wait after the first failure, in seconds; it doubles after each further one.
    first: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    #: A number in [0, 1); the default draws one at random for each wait.
    jitter: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")

    def delay(self, failures: int, asked: float | None = None) -> float:
        """The wait after `failures` failures in a row.

        Between half and all of `first * 2**(failures - 1)` (capped), so that replicas that
        failed together do not come back together; at least what the server asked for in
        `Retry-After`, within the same cap.
        """
        ceiling = min(self.cap, self.first * 2.0 ** min(failures - 1, 64))
        wait = ceiling * (0.5 + self.jitter() / 2)
        if asked is not None:
            wait = max(wait, min(asked, self.cap))
        return wait

    def run(self, attempt: Callable[[], T]) -> T:
        """`attempt()`, again after each `Transient` until one succeeds or none is left."""
        failures = 0
        while True:
            try:
                return attempt()
            except Transient as failed:
                failures += 1
                if failures >= self.attempts:
                    tries = "1 attempt" if failures == 1 else f"{failures} attempts"
                    raise type(failed.error)(f"{failed.error} (gave up after {tries})") from None
                self.sleep(self.delay(failures, failed.retry_after))


class Downloader:
    """GETs through one httpx client, retried; `save` also resumes.

    `check` raises `StorageError` for an error status (the provider knows what to tell the user
    about a 403); `unreachable` words a transport failure the same way.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        check: Callable[[httpx.Response], None],
        unreachable: Callable[[httpx.TransportError], errors.StorageError],
        retry: Retry,
    ) -> None:
        self.client = client
        self.check = check
        self.unreachable = unreachable
        self.retry = retry

    def get(self, url: str, *, params: Mapping[str, str] | None = None) -> httpx.Response:
        """A small answer (a listing page), read whole; retried, never resumed."""

        def attempt() -> httpx.Response:
            with self._transient_transport():
                response = self.client.get(url, params=params)
            self._judge(response)
            return response

        return self.retry.run(attempt)

    def save(
        self,
        url: str,
        out: BinaryIO,
        track: Callable[[int | None], progress.Advance],
        *,
        shown: str,
        params: Mapping[str, str] | None = None,
    ) -> None:
        """Stream `url` into `out` (at its current position), resuming after failures.

        `track` is called once, with the size when the first answer tells it, and returns the
        progress counter; bytes thrown away by a restart are counted back off it. `shown` names
        the download in messages.
        """
        part = _Part(out, track)
        self.retry.run(lambda: self._attempt(url, params, part, shown))

    def _attempt(self, url: str, params: Mapping[str, str] | None, part: _Part, shown: str) -> None:
        # Offsets on disk are offsets on the wire only without a Content-Encoding.
        headers = {"Accept-Encoding": "identity"}
        resume = part.resumable()
        if resume is not None:
            headers["Range"] = f"bytes={resume[0]}-"
            headers["If-Range"] = resume[1]
        with (
            self._transient_transport(),
            self.client.stream("GET", url, params=params, headers=headers) as response,
        ):
            self._judge(response)
            if response.status_code == 206:
                part.resume(response, shown)
            else:
                part.restart(response)
            part.copy(response, shown)

    def _judge(self, response: httpx.Response) -> None:
        try:
            self.check(response)
        except errors.StorageError as exc:
            status = response.status_code
            if status in _RETRIED or status >= 500:
                raise Transient(exc, _retry_after(response)) from None
            raise

    @contextmanager
    def _transient_transport(self) -> Iterator[None]:
        import httpx

        try:
            yield
        except httpx.TransportError as exc:
            raise Transient(self.unreachable(exc)) from None


class _Part:
    """One file being downloaded: the bytes on disk, and what the server said about them."""

    def __init__(self, out: BinaryIO, track: Callable[[int | None], progress.Advance]) -> None:
        self.out = out
        self.base = out.tell()
        self._track = track
        self._advance: progress.Advance | None = None
        #: Bytes reported to the progress counter, to take back on a restart.
        self.counted = 0
        self.validator: str | None = None
        self.total: int | None = None
        self.ranged = False

    def written(self) -> int:
        return self.out.tell() - self.base

    def resumable(self) -> tuple[int, str] | None:
        """The offset to ask a range from and the validator to guard it; None: ask it all."""
        written = self.written()
        if written and self.ranged and self.validator is not None:
            return written, self.validator
        return None

    def restart(self, response: httpx.Response) -> None:
        """A whole answer (200): drop what is on disk and learn the object anew."""
        self._drop()
        headers = response.headers
        encoded = _encoded(response)
        self.validator = _validator(headers)
        self.total = None if encoded else _int(headers.get("content-length"))
        self.ranged = not encoded and headers.get("accept-ranges", "").lower() != "none"
        self._start(self.total)

    def resume(self, response: httpx.Response, shown: str) -> None:
        """A range (206): keep what is on disk if the range starts right after it."""
        raw = response.headers.get("content-range", "")
        found = _CONTENT_RANGE.fullmatch(raw.strip())
        total = None if found is None or found[3] == "*" else int(found[3])
        have = self.written()
        if (
            found is None
            or _encoded(response)
            or int(found[1]) != have
            or (self.total is not None and total is not None and total != self.total)
        ):
            self._drop()
            self.ranged = False
            raise Transient(
                errors.StorageError(
                    f"'{shown}' answered the range 'Content-Range: {raw}', which does not "
                    f"continue the {have} bytes downloaded; check the server"
                )
            )
        if self.total is None:
            self.total = total
        self._start(self.total)

    def copy(self, response: httpx.Response, shown: str) -> None:
        advance = self._advance
        assert advance is not None, "restart() or resume() comes first"
        expected = _int(response.headers.get("content-length"))
        # Counted on the wire (before any Content-Encoding is undone) to match Content-Length.
        seen = response.num_bytes_downloaded
        # No chunk size: httpx would hold back a partial chunk, lost if the connection drops.
        for chunk in response.iter_bytes():
            self.out.write(chunk)
            now = response.num_bytes_downloaded
            advance(now - seen)
            self.counted += now - seen
            seen = now
        short = expected is not None and response.num_bytes_downloaded < expected
        if short or (self.total is not None and self.written() < self.total):
            raise Transient(
                errors.StorageError(
                    f"'{shown}' broke off after {self.written()} of "
                    f"{self.total if self.total is not None else expected} bytes"
                )
            )

    def _start(self, total: int | None) -> None:
        if self._advance is None:
            self._advance = self._track(total)

    def _drop(self) -> None:
        if self.written():
            self.out.seek(self.base)
            self.out.truncate()
        if self.counted and self._advance is not None:
            self._advance(-self.counted)
        self.counted = 0


def _validator(headers: httpx.Headers) -> str | None:
    """What `If-Range` may carry: a strong ETag (weak ones are not allowed), or Last-Modified."""
    etag: str | None = headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = headers.get("last-modified")
    return modified


def _encoded(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").lower() not in ("", "identity")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds; the HTTP-date form is rare for downloads and is ignored."""
    value = _int(response.headers.get("retry-after", "").strip())
    return float(value) if value is not None else None
