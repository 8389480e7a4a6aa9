"""Documents as HTML with words and sentences shaded by their attention (the HAN paper's figure)."""

from __future__ import annotations

import html
from pathlib import Path

from attnops.pipelines.documents.predict import DocumentPrediction

_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.6; }
.doc { border-top: 1px solid #ccc; padding: 1em 0; }
.sentence { display: flex; gap: 0.6em; align-items: baseline; }
.bar { flex: 0 0 4.5em; font-size: 0.75em; text-align: right; padding: 0 0.3em; }
.chosen { font-weight: bold; }
.note { color: #555; font-size: 0.85em; }
"""


def _sentence_html(words: list[str], word_weights: list[float], sentence_weight: float, chosen: bool) -> str:
    # HAN's display: a word's shade is its weight scaled by the square root of its sentence's weight.
    top = max(word_weights, default=0.0) or 1.0
    shaded = " ".join(
        f'<span style="background: rgba(30, 100, 255, {w / top * sentence_weight**0.5:.2f})">{html.escape(word)}</span>'
        for word, w in zip(words, word_weights)
    )
    bar = f'<span class="bar" style="background: rgba(255, 60, 30, {sentence_weight:.2f})">{sentence_weight:.2f}</span>'
    mark = ' class="chosen"' if chosen else ""
    return f'<div class="sentence">{bar}<span{mark}>{shaded}</span></div>'


def write_attention_page(
    predictions: list[DocumentPrediction], headings: list[str], chosen: list[set[int]], path: Path, title: str
) -> Path:
    """One section per document: its heading, then each sentence with its sentence weight (left, red)
    and its words shaded by word weight (blue); sentences in ``chosen`` are bold."""
    sections = []
    for prediction, heading, picked in zip(predictions, headings, chosen):
        doc = prediction.document
        rows = "".join(
            _sentence_html(words, weights, sentence_weight, i in picked)
            for i, (words, weights, sentence_weight) in enumerate(
                zip(doc.words, prediction.word_weights, prediction.sentence_weights)
            )
        )
        note = '<p class="note">(cut to the configured limits)</p>' if doc.truncated else ""
        sections.append(f'<div class="doc"><h3>{html.escape(heading)}</h3>{note}{rows}</div>')
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        "<p class='note'>Left: sentence attention. Blue: word attention (scaled by √ of the sentence weight). "
        "Bold: sentences selected.</p>"
        f"{''.join(sections)}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
