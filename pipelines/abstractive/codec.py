"""Words in, words out: a lowercased word vocabulary with per-document extended ids for the copy mechanism.

A source word outside the vocabulary gets the extended id ``V + j`` (``j``: its rank among that
document's unknown words, first occurrence first), so the model can copy it and it is written back
exactly as it appeared in the document. Known words are written lowercased.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from attnops.models.seq2seq import SpecialTokens

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
"""In the order of :class:`SpecialTokens` ids (pad=0, bos=1, eos=2, unk=3)."""
VOCAB_FILE = "vocab.json"
_WORD = re.compile(r"\w+(?:[-'.@&/]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = {".", ",", ":", ";", "!", "?", ")", "]", "%", "'s", "n't"}
_NO_SPACE_AFTER = {"(", "[", "$", "#"}


def words(text: str) -> list[str]:
    """Split ``text`` into words and punctuation marks (case kept)."""
    return _WORD.findall(text)


def detokenize(tokens: list[str]) -> str:
    """Join words with spaces, except before closing punctuation and after opening brackets."""
    text = ""
    for i, token in enumerate(tokens):
        glue = i == 0 or token in _NO_SPACE_BEFORE or tokens[i - 1] in _NO_SPACE_AFTER
        text += token if glue else f" {token}"
    return text


@dataclass
class SourceEncoding:
    """One document in extended ids.

    Attributes:
        ids: extended ids, one per kept source word.
        tokens: the kept source words as written.
        oovs: the document's out-of-vocabulary words as written, in extended-id order (id ``V + j``).
    """

    ids: list[int]
    tokens: list[str]
    oovs: list[str]


@dataclass
class WordCodec:
    """The word vocabulary (``vocabulary[i]`` is word ``i``; the specials first)."""

    vocabulary: list[str]
    special: SpecialTokens = SpecialTokens()

    def __post_init__(self) -> None:
        self.index = {word: i for i, word in enumerate(self.vocabulary)}

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, min_frequency: int) -> WordCodec:
        counts = Counter(w.lower() for text in texts for w in words(text))
        kept = [w for w, n in counts.most_common() if n >= min_frequency and w not in SPECIAL_TOKENS]
        return cls([*SPECIAL_TOKENS, *kept[: vocab_size - len(SPECIAL_TOKENS)]])

    def encode_source(self, text: str, max_words: int | None = None) -> SourceEncoding:
        tokens = words(text)[:max_words]
        oovs: dict[str, int] = {}  # lowercased OOV -> j
        written: list[str] = []
        ids = []
        for token in tokens:
            key = token.lower()
            if key in self.index:
                ids.append(self.index[key])
                continue
            if key not in oovs:
                oovs[key] = len(written)
                written.append(token)
            ids.append(self.size + oovs[key])
        return SourceEncoding(ids, tokens, written)

    def encode_target(self, text: str, oovs: list[str], max_words: int | None = None) -> list[int]:
        """Target ids: known words, else the extended id of the same source word, else ``<unk>``."""
        copied = {word.lower(): self.size + j for j, word in enumerate(oovs)}
        keys = [w.lower() for w in words(text)[:max_words]]
        return [self.index.get(k, copied.get(k, self.special.unk)) for k in keys]

    def tokens(self, ids: list[int], oovs: list[str]) -> list[str]:
        """Words of extended ids; an id past the document's unknown words reads ``<unk>``."""
        out = []
        for i in ids:
            j = i - self.size
            out.append(self.vocabulary[i] if j < 0 else oovs[j] if j < len(oovs) else SPECIAL_TOKENS[3])
        return out

    def decode(self, ids: list[int], oovs: list[str]) -> str:
        """Summary text of extended ids (specials dropped)."""
        return detokenize([t for t in self.tokens(ids, oovs) if t not in SPECIAL_TOKENS])

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(json.dumps({"vocabulary": self.vocabulary}))
        return folder

    @classmethod
    def load(cls, folder: Path) -> WordCodec:
        return cls(json.loads((folder / VOCAB_FILE).read_text())["vocabulary"])
