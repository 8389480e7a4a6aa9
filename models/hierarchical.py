"""Hierarchical attention (Yang et al. 2016): words → sentence vectors → a document vector.

Each level is a bidirectional RNN whose states are pooled by attention from a learned context
vector (any registered scorer). Two heads share the encoder: :class:`HANClassifier` (a label for the
document) and :class:`ExtractiveSummarizer` (a score per sentence from its state, its position and
the document vector). Both take ``(ids, word_mask)`` and return a :class:`DocumentOutput`, which is
also the exported ONNX graph's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnops.models.attention import build_attention
from attnops.models.config import HierarchicalConfig
from attnops.models.encoder import RNN_TYPES, run_packed

PADDED_SENTENCE_SCORE = -1e4
"""Extractive score of a padded sentence: finite (ONNX-safe), far below any real one."""


@dataclass
class DocumentEncoding:
    """A document seen at both levels.

    Attributes:
        sentences: sentence-level states ``(B, S, Hs)``, zero at padded sentences.
        document: the attention-pooled document vector ``(B, Hs)``.
        word_weights: word attention ``(B, S, W)``; each real sentence's row sums to 1, padding gets 0.
        sentence_weights: sentence attention ``(B, S)``; sums to 1, padded sentences get 0.
        sentence_mask: ``(B, S)`` bool, True for sentences with at least one word.
    """

    sentences: Tensor
    document: Tensor
    word_weights: Tensor
    sentence_weights: Tensor
    sentence_mask: Tensor


@dataclass
class DocumentOutput:
    """What both heads return: ``scores`` are class logits ``(B, C)`` or sentence logits ``(B, S)``;
    ``parts`` are summands of ``scores`` that are also trained on a loss of their own (empty for most models)."""

    scores: Tensor
    word_weights: Tensor
    sentence_weights: Tensor
    parts: tuple[Tensor, ...] = ()


class AttentionPooling(nn.Module):
    """Attend from a learned context vector (HAN's ``u_w`` / ``u_s``) over a sequence of states."""

    def __init__(self, attention: str, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.context = nn.Parameter(torch.randn(1, 1, hidden_size) * hidden_size**-0.5)
        self.attention = build_attention(attention, hidden_size, hidden_size, hidden_size, num_heads)

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Pool ``states (N, T, H)`` with ``mask (N, T)``; return the vector ``(N, H)`` and weights ``(N, T)``."""
        query = self.context.expand(states.shape[0], 1, -1)  # (N, 1, H)
        out = self.attention(query, states, states, mask)
        return out.context.squeeze(1), out.weights.squeeze(1)


class HierarchicalEncoder(nn.Module):
    """Word encoder + word attention → sentence vectors; sentence encoder + sentence attention → document."""

    def __init__(self, config: HierarchicalConfig, vocab_size: int, pad_id: int = 0) -> None:
        super().__init__()
        rnn = RNN_TYPES[config.rnn_type]
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.word_rnn = rnn(config.embedding_dim, config.word_hidden_size // 2, batch_first=True, bidirectional=True)
        self.word_attention = AttentionPooling(config.attention, config.word_hidden_size, config.num_heads)
        self.sentence_rnn = rnn(
            config.word_hidden_size, config.sentence_hidden_size // 2, batch_first=True, bidirectional=True
        )
        self.sentence_attention = AttentionPooling(config.attention, config.sentence_hidden_size, config.num_heads)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, ids: Tensor, word_mask: Tensor) -> DocumentEncoding:
        """Encode ``ids (B, S, W)``, padded at both levels; ``word_mask (B, S, W)`` is True for real words.

        Every document needs at least one word; a sentence without words is padding.
        """
        b, s, w = ids.shape
        words = word_mask.reshape(b * s, w)  # (B·S, W)
        sentence_mask = word_mask.any(dim=2)  # (B, S)
        # A padded sentence gets one stand-in word so its RNN pass and softmax stay defined; the
        # sentence level masks it out, and its word weights are zeroed below.
        first = (torch.arange(w, device=ids.device) == 0).unsqueeze(0)  # (1, W)
        safe_words = words | (first & ~words.any(dim=1, keepdim=True))  # (B·S, W)
        embedded = self.dropout(self.embedding(ids.reshape(b * s, w)))  # (B·S, W, E)
        word_states, _ = run_packed(self.word_rnn, embedded, safe_words)  # (B·S, W, Hw)
        vectors, word_weights = self.word_attention(self.dropout(word_states), safe_words)  # (B·S, Hw), (B·S, W)
        word_weights = word_weights.view(b, s, w) * sentence_mask.unsqueeze(-1)  # (B, S, W)
        sentence_states, _ = run_packed(self.sentence_rnn, self.dropout(vectors.view(b, s, -1)), sentence_mask)
        sentence_states = self.dropout(sentence_states)  # (B, S, Hs)
        document, sentence_weights = self.sentence_attention(sentence_states, sentence_mask)  # (B, Hs), (B, S)
        return DocumentEncoding(sentence_states, document, word_weights, sentence_weights, sentence_mask)


class LexicalTerm(nn.Module):
    """A linear model over the document's tf-idf bag of words: sublinear term frequency ``log(1 + tf)``
    times the training documents' idf (a buffer, :meth:`set_idf`), L2-normalised, as in a TF-IDF
    logistic regression; computed inside the graph, so the export needs nothing more."""

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("idf", torch.ones(vocab_size))
        self.linear = nn.Linear(vocab_size, num_classes)

    def forward(self, ids: Tensor, word_mask: Tensor) -> Tensor:
        """Class logits ``(B, C)`` of ``ids (B, S, W)``; padding (mask False) counts for nothing."""
        b = ids.shape[0]
        counts = torch.zeros(b, self.idf.shape[0], device=ids.device)
        counts = counts.scatter_add(1, ids.reshape(b, -1), word_mask.reshape(b, -1).float())  # (B, V)
        bag = torch.log1p(counts) * self.idf
        return self.linear(bag / bag.norm(dim=-1, keepdim=True).clamp(min=1e-8))


class HANClassifier(nn.Module):
    """Hierarchical Attention Network: document vector → class logits, plus, with ``lexical_term``, the
    logits of a :class:`LexicalTerm` (a wide-and-deep sum: the linear model carries the word evidence a
    TF-IDF baseline uses, the attention network what word order and sentence structure add)."""

    def __init__(self, config: HierarchicalConfig, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = HierarchicalEncoder(config, vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.sentence_hidden_size, num_classes)
        self.lexical = LexicalTerm(vocab_size, num_classes) if config.lexical_term else None
        self.idf_unit = "document" if config.lexical_term else None
        self.part_losses = config.part_losses

    def set_idf(self, idf: Tensor) -> None:
        """Use these inverse document frequencies ``(V,)`` for the lexical term."""
        self.lexical.idf.copy_(idf)

    def forward(self, ids: Tensor, word_mask: Tensor) -> DocumentOutput:
        encoded = self.encoder(ids, word_mask)
        logits = self.output(self.dropout(encoded.document))  # (B, C)
        if self.lexical is None:
            return DocumentOutput(logits, encoded.word_weights, encoded.sentence_weights)
        lexical = self.lexical(ids, word_mask)  # (B, C)
        parts = (logits, lexical) if self.part_losses else ()
        return DocumentOutput(logits + lexical, encoded.word_weights, encoded.sentence_weights, parts)


def lexical_centrality(ids: Tensor, word_mask: Tensor, idf: Tensor) -> Tensor:
    """Each sentence's mean tf-idf cosine similarity to the document's other sentences (LexRank's degree).

    Args:
        ids, word_mask: ``(B, S, W)`` word ids and mask.
        idf: ``(V,)`` inverse document frequency of each word id.

    Returns:
        ``(B, S)`` standardised within each document (zero mean, unit variance over real sentences); 0 at padding.
    """
    b, s, _ = ids.shape
    sentence_mask = word_mask.any(dim=2)  # (B, S)
    weights = idf[ids] * word_mask  # (B, S, W)
    bags = torch.zeros(b, s, idf.shape[0], device=ids.device).scatter_add(2, ids, weights)  # (B, S, V) tf-idf
    unit = bags / bags.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    similarity = unit @ unit.transpose(1, 2)  # (B, S, S)
    real = sentence_mask.float()
    count = real.sum(dim=1, keepdim=True)  # (B, 1)
    others = (similarity * real.unsqueeze(1)).sum(dim=-1) - real  # (B, S): without the sentence itself
    degree = others / (count - 1).clamp(min=1.0)
    mean = (degree * real).sum(dim=1, keepdim=True) / count
    # A spread under 0.01 is no signal (e.g. sentences sharing no words); a larger floor keeps it from
    # amplifying rounding noise.
    std = (((degree - mean) ** 2 * real).sum(dim=1, keepdim=True) / count).sqrt().clamp(min=1e-2)
    return (degree - mean) / std * real


class ExtractiveSummarizer(nn.Module):
    """A logit per sentence: content (its state) + salience (state vs. document) + its position +
    its lexical centrality.

    The first three follow SummaRuNNer (Nallapati et al. 2017) on the hierarchical encoder; the last is
    LexRank's degree (tf-idf cosine to the other sentences), with the idf of the training documents
    kept as a buffer (:meth:`set_idf`), so the exported graph computes it too.
    """

    idf_unit = "sentence"
    """What the idf counts: the sentences a word occurs in."""

    def __init__(self, config: HierarchicalConfig, vocab_size: int) -> None:
        super().__init__()
        if config.lexical_term:
            raise ValueError(
                "model.lexical_term applies to classification only (the summarizer has lexical centrality)"
            )
        hidden = config.sentence_hidden_size
        self.encoder = HierarchicalEncoder(config, vocab_size)
        self.content = nn.Linear(hidden, 1)
        self.salience = nn.Linear(hidden, hidden, bias=False)  # W in h_jᵀ W d
        self.position = nn.Embedding(config.max_positions, 1)
        self.centrality = nn.Parameter(torch.ones(1))
        self.register_buffer("idf", torch.ones(vocab_size))
        self.max_position = config.max_positions - 1

    def set_idf(self, idf: Tensor) -> None:
        """Use these inverse document frequencies ``(V,)`` for the centrality feature."""
        self.idf.copy_(idf)

    def forward(self, ids: Tensor, word_mask: Tensor) -> DocumentOutput:
        encoded = self.encoder(ids, word_mask)
        sentences = encoded.sentences  # (B, S, Hs)
        salience = (sentences * self.salience(encoded.document).unsqueeze(1)).sum(dim=-1)  # (B, S)
        positions = torch.arange(ids.shape[1], device=ids.device).clamp(max=self.max_position)  # (S,)
        centrality = self.centrality * lexical_centrality(ids, word_mask, self.idf)  # (B, S)
        logits = self.content(sentences).squeeze(-1) + salience + self.position(positions).squeeze(-1) + centrality
        logits = logits.masked_fill(~encoded.sentence_mask, PADDED_SENTENCE_SCORE)
        return DocumentOutput(logits, encoded.word_weights, encoded.sentence_weights)


DocumentModel = HANClassifier | ExtractiveSummarizer

DOCUMENT_MODELS: dict[str, Callable[[HierarchicalConfig, int, int], DocumentModel]] = {
    "classification": lambda config, vocab_size, num_classes: HANClassifier(config, vocab_size, num_classes),
    "summarization": lambda config, vocab_size, num_classes: ExtractiveSummarizer(config, vocab_size),
}
"""Model builders by task: ``(config, vocab_size, num_classes) -> model``."""


def select_sentences(
    scores: list[float], max_sentences: int, word_counts: list[int] | None = None, max_words: int | None = None
) -> list[int]:
    """Indices of the best-scoring sentences under a sentence (and optional word) budget, in document order.

    Sentences are taken best first; one that would exceed ``max_words`` is skipped, and the first
    sentence taken is always kept so a summary is never empty.
    """
    chosen: list[int] = []
    words = 0
    for index in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if len(chosen) == max_sentences:
            break
        length = word_counts[index] if word_counts is not None else 0
        if max_words is not None and chosen and words + length > max_words:
            continue
        chosen.append(index)
        words += length
    return sorted(chosen)


def pad_documents(documents: list[list[list[int]]], pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Pad word ids ``[doc][sentence][word]`` to ``(B, S, W)`` ids and the matching bool mask."""
    sentences = max(len(doc) for doc in documents)
    words = max(len(sentence) for doc in documents for sentence in doc)
    ids = torch.full((len(documents), sentences, words), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    for i, doc in enumerate(documents):
        for j, sentence in enumerate(doc):
            ids[i, j, : len(sentence)] = torch.tensor(sentence, dtype=torch.long)
            mask[i, j, : len(sentence)] = True
    return ids, mask
