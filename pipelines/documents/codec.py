"""Documents → padded word ids: a lowercased word vocabulary (HF ``tokenizers``) and the length limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "[PAD]", "[UNK]"
"""Ids 0 and 1."""
TOKENIZER_FILE, LABELS_FILE = "words.json", "labels.json"


@dataclass
class EncodedDocument:
    """A document cut to the limits and turned into word ids.

    Attributes:
        sentences: the sentences kept (original text).
        indices: where each kept sentence was in the input.
        ids: word ids per kept sentence (each cut to ``max_words``).
        words: the surface form of each kept word, for showing attention.
        truncated: True when sentences or words were dropped.
    """

    sentences: list[str]
    indices: list[int]
    ids: list[list[int]]
    words: list[list[str]]
    truncated: bool


@dataclass
class DocumentCodec:
    """Word tokenizer, class labels and limits, saved beside the model and loaded by serving."""

    tokenizer: Tokenizer
    labels: list[str]
    max_sentences: int
    max_words: int

    @classmethod
    def train(
        cls, sentences: list[str], labels: list[str], vocab_size: int, min_frequency: int, max_sentences: int,
        max_words: int,
    ) -> DocumentCodec:  # fmt: skip
        """Learn a word vocabulary (lowercased, NFKC) from training ``sentences``."""
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, UNK], show_progress=False
        )
        tokenizer.train_from_iterator(sentences, trainer=trainer)
        return cls(tokenizer, labels, max_sentences, max_words)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, documents: list[list[str]]) -> list[EncodedDocument]:
        """Encode documents given as sentence lists; sentences without words are dropped."""
        encoded = []
        for sentences in documents:
            encodings = self.tokenizer.encode_batch(sentences)
            real = [i for i, encoding in enumerate(encodings) if encoding.ids]
            kept = real[: self.max_sentences]
            truncated = len(real) > len(kept) or any(len(encodings[i].ids) > self.max_words for i in kept)
            ids = [encodings[i].ids[: self.max_words] for i in kept]
            words = [[sentences[i][a:b] for a, b in encodings[i].offsets[: self.max_words]] for i in kept]
            encoded.append(EncodedDocument([sentences[i] for i in kept], kept, ids, words, truncated))
        return encoded

    def idf(self, documents: list[EncodedDocument], unit: Literal["sentence", "document"]) -> torch.Tensor:
        """Smoothed inverse frequency ``log((N + 1) / (n_w + 1))`` of every word id, ``(V,)``: N units
        (sentences or documents), n_w of them holding the word."""
        units = (
            [ids for doc in documents for ids in doc.ids]
            if unit == "sentence"
            else [[i for ids in doc.ids for i in ids] for doc in documents]
        )
        counts = torch.zeros(self.vocab_size)
        for ids in units:
            counts[torch.tensor(sorted(set(ids)), dtype=torch.long)] += 1
        return torch.log((len(units) + 1) / (counts + 1))

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(folder / TOKENIZER_FILE))
        limits = {"max_sentences": self.max_sentences, "max_words": self.max_words}
        (folder / LABELS_FILE).write_text(json.dumps({"labels": self.labels, **limits}, indent=2))
        return folder

    @classmethod
    def load(cls, folder: Path) -> DocumentCodec:
        meta = json.loads((folder / LABELS_FILE).read_text())
        return cls(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), meta["labels"], meta["max_sentences"],
                   meta["max_words"])  # fmt: skip
