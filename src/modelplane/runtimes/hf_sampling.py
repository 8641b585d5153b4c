"""The next token of every row of a decoding batch, each row with its own sampling settings.

The batched decoder (`hf_decoder`) runs one forward pass for all the requests it holds, so the
choice of the next token cannot be `generate`'s, which applies one setting to the whole batch.
Here each row has its own temperature (0: greedy, the argmax) and nucleus (`top_p`), and the
tokens the model's generation config suppresses (`suppress_tokens`: never chosen) apply to all
rows. Greedy rows take the argmax of the same logits that `generate` would see, so a greedy
answer does not depend on which other requests shared its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    """One request's sampling: temperature 0 is greedy; `top_p` keeps the smallest set of
    most likely tokens whose probabilities reach it."""

    temperature: float = 1.0
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def suppressed_ids(generation_config: Any, vocab_size: int) -> list[int]:
    """The token ids the model's generation config never lets it produce."""
    ids = getattr(generation_config, "suppress_tokens", None) or []
    return sorted({int(i) for i in ids if 0 <= int(i) < vocab_size})


def choose(logits: Any, settings: Sequence[Settings], suppressed: Any | None) -> list[int]:
    """The next token of each row: `logits` is [rows, vocab]; `suppressed` a tensor of ids."""
    import torch

    scores = logits.float()
    if suppressed is not None:
        scores[:, suppressed] = float("-inf")
    chosen = scores.argmax(dim=-1)
    sampled = [row for row, setting in enumerate(settings) if not setting.greedy]
    if sampled:
        index = torch.tensor(sampled, device=scores.device)
        temperatures = torch.tensor(
            [settings[row].temperature for row in sampled], device=scores.device
        ).unsqueeze(1)
        probs = torch.softmax(scores[index] / temperatures, dim=-1)
        top_ps = [settings[row].top_p for row in sampled]
        if any(top_p < 1.0 for top_p in top_ps):
            probs = _nucleus(probs, torch.tensor(top_ps, device=scores.device).unsqueeze(1))
        chosen[index] = torch.multinomial(probs, 1).squeeze(1)
    return [int(token) for token in chosen.tolist()]


def _nucleus(probs: Any, top_p: Any) -> Any:
    """Zero the tokens outside each row's nucleus; the most likely token always stays."""
    import torch

    ordered, order = probs.sort(dim=-1, descending=True)
    # A token stays while the tokens more likely than it have not reached top_p yet.
    before = ordered.cumsum(dim=-1) - ordered
    ordered = ordered.masked_fill(before >= top_p, 0.0)
    ordered[:, 0] = torch.where(ordered[:, 0] > 0, ordered[:, 0], probs.max(dim=-1).values)
    kept = torch.zeros_like(probs).scatter(-1, order, ordered)
    return kept / kept.sum(dim=-1, keepdim=True)
