"""BPE tokenizers (Hugging Face ``tokenizers``) for the source and target languages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.translation.config import TokenizerConfig

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
"""In the order of :class:`SpecialTokens` ids (pad=0, bos=1, eos=2, unk=3)."""


def train_bpe(texts: Iterable[str], config: TokenizerConfig) -> Tokenizer:
    """Train a BPE tokenizer whose decoder restores the text exactly (Metaspace)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


@dataclass
class TextCodec:
    """Source and target tokenizers (the same object when the vocabulary is joint)."""

    source: Tokenizer
    target: Tokenizer
    special: SpecialTokens = SpecialTokens()

    @classmethod
    def train(cls, sources: list[str], targets: list[str], config: TokenizerConfig) -> TextCodec:
        if config.joint:
            joint = train_bpe([*sources, *targets], config)  # the splits may be dataset columns, not lists
            return cls(joint, joint)
        return cls(train_bpe(sources, config), train_bpe(targets, config))

    def encode_source(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.source.encode_batch(texts)]

    def encode_target(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.target.encode_batch(texts)]

    def source_tokens(self, ids: list[int]) -> list[str]:
        return [self.source.id_to_token(i) for i in ids]

    def target_tokens(self, ids: list[int]) -> list[str]:
        return [self.target.id_to_token(i) for i in ids]

    def decode_target(self, ids: list[list[int]]) -> list[str]:
        return self.target.decode_batch(ids, skip_special_tokens=True)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.source.save(str(folder / "source.json"))
        self.target.save(str(folder / "target.json"))
        return folder

    @classmethod
    def load(cls, folder: Path) -> TextCodec:
        return cls(Tokenizer.from_file(str(folder / "source.json")), Tokenizer.from_file(str(folder / "target.json")))
