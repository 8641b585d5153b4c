"""The tensor side of continuous batching, without a model: per-row sampling (`hf_sampling`)
and the left-padded rows of a decoding batch joining and leaving (`hf_batch`)."""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache

from modelplane.runtimes import hf_batch, hf_sampling

GREEDY = hf_sampling.Settings(temperature=0)


def test_greedy_rows_take_the_argmax_of_what_is_not_suppressed() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 1.0]])

    assert hf_sampling.choose(logits, [GREEDY, GREEDY], None) == [1, 0]
    assert hf_sampling.choose(logits, [GREEDY, GREEDY], torch.tensor([1, 0])) == [2, 2]


def test_a_small_top_p_keeps_only_the_most_likely_token() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0]] * 2)
    nucleus = hf_sampling.Settings(temperature=1.0, top_p=0.1)

    for _ in range(20):
        assert hf_sampling.choose(logits, [nucleus, GREEDY], None) == [1, 1]


def rows(lengths: list[int], first_value: float) -> hf_batch.Rows[int]:
    """Rows whose cache holds `first_value`, +1 per row, at each real token's place."""
    width = max(lengths)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    keys = torch.zeros((len(lengths), 1, width, 2))
    for row, length in enumerate(lengths):
        mask[row, width - length :] = 1
        keys[row, :, width - length :] = first_value + row
    cache = DynamicCache()
    cache.update(keys, keys.clone(), 0)
    return hf_batch.Rows(list(range(len(lengths))), cache, mask, torch.arange(len(lengths)))


def test_rows_join_padded_on_the_left_and_padding_columns_leave_with_them() -> None:
    batch = rows([5, 2], 10.0)
    batch.merge(rows([3], 20.0))

    assert batch.items == [0, 1, 0]
    assert batch.mask.tolist() == [[1] * 5, [0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]
    assert batch.cache.layers[0].keys[2, 0, :, 0].tolist() == [0, 0, 20, 20, 20]

    batch.keep([1, 2])  # the longest row leaves: columns that are padding in all go too

    assert batch.mask.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert batch.cache.layers[0].keys.shape[2] == 3
    assert batch.next_ids.tolist() == [1, 0]


def test_prefill_positions_count_only_real_tokens() -> None:
    inputs = hf_batch.prefill_inputs([[7, 8, 9], [5]], pad_id=0, device="cpu")

    assert inputs["input_ids"].tolist() == [[7, 8, 9], [0, 0, 5]]
    assert inputs["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0]]
