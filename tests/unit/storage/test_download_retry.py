"""Retries and resumes (`storage.transfer`): the backoff schedule with an injected sleep, and
the resume rules against httpx's in-process mock transport, so no socket and no real wait."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelplane.core import errors
from modelplane.storage import transfer

DATA = bytes(range(256)) * 40


def test_waits_double_from_the_first_up_to_the_cap() -> None:
    retry = transfer.Retry(first=1.0, cap=10.0, jitter=lambda: 0.999999)
    assert [round(retry.delay(n), 3) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_takes_off_at_most_half() -> None:
    low = transfer.Retry(first=2.0, jitter=lambda: 0.0)
    mid = transfer.Retry(first=2.0, jitter=lambda: 0.5)
    assert [low.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert [mid.delay(n) for n in (1, 2, 3)] == [1.5, 3.0, 6.0]


def test_retry_after_is_a_floor_within_the_cap() -> None:
    retry = transfer.Retry(first=1.0, cap=30.0, jitter=lambda: 0.0)
    assert retry.delay(1, asked=7.0) == 7.0
    assert retry.delay(1, asked=0.0) == 0.5
    assert retry.delay(1, asked=600.0) == 30.0


def test_a_huge_failure_count_stays_at_the_cap() -> None:
    assert transfer.Retry(cap=30.0, jitter=lambda: 0.0).delay(10_000) == 15.0


def test_run_sleeps_the_schedule_between_transient_failures_then_succeeds() -> None:
    slept: list[float] = []
    outcomes: Iterator[str | None] = iter(["503", "reset", None])

    def attempt() -> str:
        failure = next(outcomes)
        if failure is not None:
            raise transfer.Transient(errors.StorageError(failure))
        return "done"

    retry = transfer.Retry(attempts=5, sleep=slept.append, jitter=lambda: 0.0)
    assert retry.run(attempt) == "done"
    assert slept == [0.5, 1.0]


def test_run_gives_up_after_the_last_attempt_with_the_last_error() -> None:
    slept: list[float] = []
    calls = 0

    def attempt() -> None:
        nonlocal calls
        calls += 1
        raise transfer.Transient(errors.StorageError(f"failure {calls}"), retry_after=3.0)

    retry = transfer.Retry(attempts=5, sleep=slept.append, jitter=lambda: 0.0)
    with pytest.raises(errors.StorageError) as caught:
        retry.run(attempt)
    assert str(caught.value) == "failure 5 (gave up after 5 attempts)"
    assert calls == 5
    assert slept == [3.0, 3.0, 3.0, 4.0], "Retry-After is a floor; past it, the schedule"


def test_run_does_not_retry_a_final_error_and_one_attempt_never_sleeps() -> None:
    slept: list[float] = []

    def refused() -> None:
        raise errors.StorageNotFound("404")

    with pytest.raises(errors.StorageNotFound):
        transfer.Retry(sleep=slept.append).run(refused)

    def transient() -> None:
        raise transfer.Transient(errors.StorageError("503"))

    with pytest.raises(errors.StorageError, match=r"^503 \(gave up after 1 attempt\)$"):
        transfer.Retry(attempts=1, sleep=slept.append).run(transient)
    assert slept == []


def test_attempts_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        transfer.Retry(attempts=0)


# The resume rules, against a scripted handler. Each step answers one request.
Step = Callable[[httpx.Request], httpx.Response]


class Broken(httpx.SyncByteStream):
    """A body that stops after `data` with the error a dropped connection gives."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def whole(headers: dict[str, str], cut: int | None = None) -> Step:
    def answer(request: httpx.Request) -> httpx.Response:
        sent = {"content-length": str(len(DATA)), **headers}
        body = httpx.ByteStream(DATA) if cut is None else Broken(DATA[:cut])
        return httpx.Response(200, headers=sent, stream=body)

    return answer


def ranged(content_range: str, start: int) -> Step:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-range": content_range, "content-length": str(len(DATA) - start)}
        return httpx.Response(206, headers=headers, stream=httpx.ByteStream(DATA[start:]))

    return answer


def download(*steps: Step) -> tuple[bytes, list[httpx.Request], list[int]]:
    """Run one `save` through the steps; the file's bytes, the requests, the progress counts."""
    script, seen, counted = list(steps), [], []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return script.pop(0)(request)

    def check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise errors.StorageError(f"answered {response.status_code}")

    out = io.BytesIO()
    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        downloader = transfer.Downloader(
            client,
            check=check,
            unreachable=lambda exc: errors.StorageError(str(exc)),
            retry=transfer.Retry(attempts=len(steps), sleep=lambda _: None),
        )
        downloader.save("http://host/m.bin", out, lambda _: counted.append, shown="m.bin")
    assert script == [], "every step was used"
    return out.getvalue(), seen, counted


def test_a_cut_download_resumes_with_the_etag_as_if_range() -> None:
    got, seen, counted = download(
        whole({"etag": '"e1"', "accept-ranges": "bytes"}, cut=6000),
        ranged(f"bytes 6000-{len(DATA) - 1}/{len(DATA)}", 6000),
    )
    assert got == DATA
    assert seen[0].headers["accept-encoding"] == "identity"
    assert seen[1].headers["range"] == "bytes=6000-"
    assert seen[1].headers["if-range"] == '"e1"'
    assert sum(counted) == len(DATA) and min(counted) > 0


def test_last_modified_guards_the_range_when_the_etag_is_weak() -> None:
    modified = "Wed, 21 Oct 2015 07:28:00 GMT"
    _, seen, _ = download(
        whole({"etag": 'W/"e1"', "last-modified": modified}, cut=100),
        ranged(f"bytes 100-{len(DATA) - 1}/{len(DATA)}", 100),
    )
    assert seen[1].headers["if-range"] == modified


def test_without_a_validator_nothing_is_resumed() -> None:
    got, seen, counted = download(whole({}, cut=6000), whole({}))
    assert got == DATA
    assert "range" not in seen[1].headers
    assert sum(counted) == len(DATA), "the dropped 6000 bytes were counted back off"


def test_a_server_that_refuses_ranges_is_not_asked_for_one() -> None:
    _, seen, _ = download(whole({"etag": '"e"', "accept-ranges": "none"}, cut=10), whole({}))
    assert "range" not in seen[1].headers


def test_a_range_that_does_not_continue_the_file_is_dropped_and_fetched_whole() -> None:
    got, seen, counted = download(
        whole({"etag": '"e"'}, cut=6000),
        ranged(f"bytes 5000-{len(DATA) - 1}/{len(DATA)}", 5000),
        whole({"etag": '"e"'}),
    )
    assert got == DATA
    assert "range" not in seen[2].headers, "ranges are not trusted again for this file"
    assert sum(counted) == len(DATA)


def test_a_range_of_another_total_size_is_not_spliced() -> None:
    got, _, _ = download(
        whole({"etag": '"e"'}, cut=6000),
        ranged(f"bytes 6000-{len(DATA)}/{len(DATA) + 1}", 6000),
        whole({"etag": '"e"'}),
    )
    assert got == DATA


def test_a_body_shorter_than_its_length_is_retried_from_where_it_stopped() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        headers = {"content-length": str(len(DATA)), "etag": '"e"'}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(DATA[:7000]))

    got, seen, _ = download(short, ranged(f"bytes 7000-{len(DATA) - 1}/{len(DATA)}", 7000))
    assert got == DATA
    assert seen[1].headers["range"] == "bytes=7000-"


def test_a_compressed_answer_is_never_resumed() -> None:
    # Offsets into a gzip stream are not offsets into the file written from it.
    _, seen, _ = download(whole({"etag": '"e"', "content-encoding": "identity"}, cut=10), whole({}))
    assert "range" in seen[1].headers
    _, seen, _ = download(
        whole({"etag": '"e"', "content-encoding": "gzip", "content-length": "5"}, cut=0),
        whole({}),
    )
    assert "range" not in seen[1].headers


def test_the_file_is_written_from_where_it_was_handed_over() -> None:
    out = io.BytesIO(b"header")
    out.seek(0, io.SEEK_END)
    answers = [whole({"etag": '"e"'}, cut=100), whole({"etag": '"e"'})]

    def handle(request: httpx.Request) -> httpx.Response:
        # Ranges here are ignored: the restart must keep the caller's own bytes.
        return answers.pop(0)(request)

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        transfer.Downloader(
            client,
            check=lambda _: None,
            unreachable=lambda exc: errors.StorageError(str(exc)),
            retry=transfer.Retry(sleep=lambda _: None),
        ).save("http://host/m.bin", out, lambda _: lambda _n: None, shown="m.bin")
    assert out.getvalue() == b"header" + DATA
