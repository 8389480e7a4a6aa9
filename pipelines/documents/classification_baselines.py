"""Linear text classifiers on TF-IDF features: the baselines an attention classifier has to beat, fitted
on the same training documents and scored on the same split as the model."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

from attnops.pipelines.documents.data import Document

FEATURES = {
    "tfidf_words": lambda: TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
    "tfidf_chars": lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
}
"""Word uni+bigrams, and character 2–5-grams within word boundaries; sublinear term frequencies."""
CLASSIFIERS = {
    "logreg": lambda: LogisticRegression(C=10.0, tol=1e-3, max_iter=500),
    "svm": lambda: LinearSVC(C=1.0),
}


def _text(document: Document) -> str:
    return " ".join([document.title, *document.sentences])


def tfidf_baselines(train: list[Document], documents: list[Document], split: str) -> dict[str, float]:
    """Accuracy and macro-F1 (×100) on ``documents`` of every feature × classifier pair fitted on ``train``,
    named ``{split}_{features}_{classifier}_{accuracy|macro_f1}``."""
    labels, truth = [d.category for d in train], [d.category for d in documents]
    metrics = {}
    for features, make_features in FEATURES.items():
        vectorizer = make_features()
        fitted = vectorizer.fit_transform([_text(d) for d in train])  # (documents, n-grams), sparse
        scored = vectorizer.transform([_text(d) for d in documents])
        for classifier, make_classifier in CLASSIFIERS.items():
            predicted = make_classifier().fit(fitted, labels).predict(scored)
            prefix = f"{split}_{features}_{classifier}"
            metrics[f"{prefix}_accuracy"] = 100.0 * accuracy_score(truth, predicted)
            metrics[f"{prefix}_macro_f1"] = 100.0 * f1_score(truth, predicted, average="macro", zero_division=0)
    return metrics
