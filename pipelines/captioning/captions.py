"""Flickr8k-style caption data: splits, caption normalization and the word-level caption tokenizer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.data.records import data_file, read_jsonl
from attnops.pipelines.errors import UserError
from attnops.pipelines.translation.tokenizer import SPECIAL_TOKENS

SPLIT_NAMES = {"train": "train", "dev": "val", "test": "test"}
"""Split label in the caption file → our split name."""
CAPTIONS_FILE = "captions.jsonl"
IMAGES_FOLDER = "images"
TOKENIZER_FILE = "captions.json"


@dataclass
class CaptionSplit:
    """Images of one split and their reference captions (normalized)."""

    images: list[str]
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.images)

    def head(self, n: int | None) -> CaptionSplit:
        return self if n is None else CaptionSplit(self.images[:n], self.captions[:n])


def normalize_caption(text: str) -> str:
    """Lowercase words and digits separated by single spaces (punctuation dropped), as scored."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def load_captions(folder: Path) -> dict[str, CaptionSplit]:
    """Read ``captions.jsonl`` (or ``captions.jsonl.gz``) of a caption data set into train / val / test splits.

    Raises:
        UserError: a missing file, a malformed row, or a split label we do not know.
    """
    path = data_file(folder, CAPTIONS_FILE)
    if path is None:
        raise UserError(f"caption file not found: {folder / CAPTIONS_FILE}(.gz)")
    splits = {name: CaptionSplit([], []) for name in SPLIT_NAMES.values()}
    for number, row in read_jsonl(path):
        try:
            split, image, captions = SPLIT_NAMES[row["split"]], row["image"], row["captions"]
        except (KeyError, TypeError) as exc:
            raise UserError(f"{path}:{number}: bad caption row ({exc!r})") from exc
        splits[split].images.append(image)
        splits[split].captions.append([normalize_caption(c) for c in captions])
    return splits


@dataclass
class CaptionCodec:
    """Word-level tokenizer of normalized captions; ids follow :class:`SpecialTokens`."""

    tokenizer: Tokenizer
    special: SpecialTokens = SpecialTokens()

    @classmethod
    def train(cls, captions: list[str], min_frequency: int) -> CaptionCodec:
        """A vocabulary of the words seen at least ``min_frequency`` times (others become ``<unk>``)."""
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(
            min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
        tokenizer.train_from_iterator(captions, trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, captions: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(captions)]

    def decode(self, ids: list[list[int]]) -> list[str]:
        return self.tokenizer.decode_batch(ids, skip_special_tokens=True)

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in ids]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(folder / TOKENIZER_FILE))
        return folder

    @classmethod
    def load(cls, folder: Path) -> CaptionCodec:
        return cls(Tokenizer.from_file(str(folder / TOKENIZER_FILE)))
