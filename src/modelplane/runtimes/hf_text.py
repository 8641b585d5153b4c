"""Token ids to text, one token at a time, with stop sequences: the text side of generation.

Decoding token by token cannot decode each token alone: byte-level and SentencePiece tokenizers
split characters and spaces across tokens. `TextStream` decodes a short window of recent
tokens twice (without and with the new one) and emits the difference, holding back text that
ends in an incomplete character (for at most 4 tokens: what is still broken then never heals).
It also holds back text that could be the start of a stop sequence, so a stream never shows a
stop sequence, even one split across tokens, and cuts the text where the first stop sequence
begins. Pure Python, so it is tested without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[list[int]], str]
_INCOMPLETE = "\ufffd"
# A character is at most 4 bytes, so tokens still undecodable after this many are not text.
_MAX_PENDING = 4


class TextStream:
    def __init__(self, decode: Decode, stops: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stops = tuple(stop for stop in stops if stop)
        self._ids: list[int] = []
        self._prefix = 0  # where the decoding window starts
        self._read = 0  # tokens before this one have been emitted
        self._held = ""
        #: True once a stop sequence appeared; nothing more is emitted after it.
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one generated token; return the text that may be shown now."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        pending = len(self._ids) - self._read
        if len(after) <= len(before) or (after.endswith(_INCOMPLETE) and pending < _MAX_PENDING):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return self._release(after[len(before) :])

    def flush(self) -> str:
        """The text still held back, at the end of generation."""
        if self.stopped:
            return ""
        tail = ""
        if self._read < len(self._ids):
            before = self._decode(self._ids[self._prefix : self._read])
            tail = self._decode(self._ids[self._prefix :])[len(before) :]
            self._read = len(self._ids)
        text = self._release(tail)
        if not self.stopped:
            text, self._held = text + self._held, ""
        return text

    def _release(self, new: str) -> str:
        buffer = self._held + new
        cuts = [index for index in (buffer.find(stop) for stop in self._stops) if index >= 0]
        if cuts:
            self.stopped = True
            self._held = ""
            return buffer[: min(cuts)]
        keep = max((_overlap(buffer, stop) for stop in self._stops), default=0)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep]


def _overlap(text: str, stop: str) -> int:
    """The length of the longest end of `text` that `stop` starts with (short of all of it)."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0
