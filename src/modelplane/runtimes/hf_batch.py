"""The rows a batched decoder holds: left-padded token state and one shared key/value cache.

Continuous batching over a transformers model keeps every running request as one row of one
batch. Rows have different lengths, so they are aligned on the right: each row's tokens end at
the last column, shorter rows are padded on the left, and the attention mask (1 = a real
token) hides the padding. Position ids count only real tokens, so a row's positions, and hence
its answer, are those it would have alone. New rows (prefilled together, `Rows.prefill_inputs`)
join by padding whichever side is shorter on the left (`merge`); finished rows leave by index
(`keep`), and columns that are padding in every row left are cut off.

Merging rewrites the cache's tensors, which only a plain `DynamicLayer` (keys and values
[batch, heads, length, dim], nothing else) allows; `mergeable` says whether a cache is so. A
model whose cache is not (sliding windows, static or quantized caches) only batches requests
that start together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def prefill_inputs(prompts: Sequence[Sequence[int]], pad_id: int, device: Any) -> dict[str, Any]:
    """The left-padded `input_ids`, `attention_mask` and `position_ids` of new prompts."""
    import torch

    width = max(len(prompt) for prompt in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "position_ids": positions.to(device),
    }


def mergeable(cache: Any) -> bool:
    """Whether the cache's rows can be padded, joined and cut (plain dynamic layers only)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None) or []
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class Rows(Generic[T]):
    """The batch: one item (a request) per row, the cache, the mask and each row's next input."""

    def __init__(self, items: list[T], cache: Any, mask: Any, next_ids: Any) -> None:
        self.items = items
        self.cache = cache
        self.mask = mask
        self.next_ids = next_ids

    def __len__(self) -> int:
        return len(self.items)

    def step_inputs(self) -> dict[str, Any]:
        """The inputs of one decoding step (the cache aside): each row's last token at its own
        next position."""
        import torch

        ones = torch.ones((len(self.items), 1), dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return {
            "input_ids": self.next_ids.unsqueeze(1),
            "attention_mask": self.mask,
            "position_ids": self.mask.sum(dim=1, keepdim=True) - 1,
        }

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only `rows` (in that order), then cut the columns that are padding in all."""
        import torch

        index = torch.tensor(list(rows), dtype=torch.long, device=self.mask.device)
        self.items = [self.items[row] for row in rows]
        self.mask, self.next_ids = self.mask[index], self.next_ids[index]
        if not mergeable(self.cache):
            # A cache whose layers are not all plain keeps its own bookkeeping: select rows
            # through its API and leave the columns as they are.
            self.cache.batch_select_indices(index)
            return
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        if not self.items:
            return
        real = self.mask.any(dim=0).nonzero()
        start = int(real[0]) if len(real) else 0
        if start:
            self.mask = self.mask[:, start:]
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, start:]
                layer.values = layer.values[:, :, start:]

    def merge(self, other: Rows[T]) -> None:
        """Append `other`'s rows, padding the shorter side on the left."""
        import torch

        width = max(self.mask.shape[1], other.mask.shape[1])
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(other.mask, width)])
        self.next_ids = torch.cat([self.next_ids, other.next_ids])
        self.items = self.items + other.items
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, width), _pad_left(theirs.keys, width)])
            mine.values = torch.cat(
                [_pad_left(mine.values, width), _pad_left(theirs.values, width)]
            )


def _pad_left(tensor: Any, width: int) -> Any:
    """Zeros before the sequence axis of a mask [rows, length] or a cache [rows, heads, length,
    dim], up to `width`."""
    import torch.nn.functional as F

    axis = 1 if tensor.dim() == 2 else 2
    missing = width - tensor.shape[axis]
    if missing <= 0:
        return tensor
    # F.pad lists (before, after) pairs from the last axis backwards.
    pads = [0, 0] * (tensor.dim() - 1 - axis) + [missing, 0]
    return F.pad(tensor, pads)
