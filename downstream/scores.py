"""Scores of one set of test predictions, and the bag-of-words baseline that every encoder must
beat to be worth its compute."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from sklearn.pipeline import make_pipeline

from electra_data.downstream.tasks import Split, Task

__all__ = ["BAG_OF_WORDS", "BAG_OF_WORDS_REGRESSION", "metric_names", "score", "bag_of_words"]

BAG_OF_WORDS = "bag-of-words (tf-idf 1-2 grams + logistic regression)"
BAG_OF_WORDS_REGRESSION = "bag-of-words (tf-idf 1-2 grams + ridge regression)"


def metric_names(task: Task) -> tuple[str, ...]:
    """The metrics reported for a task; the first is the one tables and charts lead with."""
    if task.regression:
        return ("pearson", "spearman")
    return ("accuracy", "macro_f1", "matthews") if len(task.classes) == 2 else ("accuracy", "macro_f1")


def score(task: Task, predicted, truth) -> dict[str, float]:
    """The task's metrics for predictions against the true labels (class ids or values)."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if task.regression:
        constant = np.ptp(predicted) == 0  # correlation of a constant is undefined: count it 0
        return {"pearson": 0.0 if constant else float(stats.pearsonr(predicted, truth)[0]),
                "spearman": 0.0 if constant else float(stats.spearmanr(predicted, truth)[0])}
    scores = {"accuracy": float(accuracy_score(truth, predicted)),
              "macro_f1": float(f1_score(truth, predicted, average="macro",
                                         labels=list(range(len(task.classes))), zero_division=0))}
    if len(task.classes) == 2:
        scores["matthews"] = float(matthews_corrcoef(truth, predicted))
    return scores


def _joined(split: Split) -> list[str]:
    if split.pairs is None:
        return list(split.texts)
    return [f"{a} ||| {b}" for a, b in zip(split.texts, split.pairs)]


def bag_of_words(task: Task) -> tuple[str, np.ndarray]:
    """A linear model on tf-idf unigrams and bigrams: the baseline's name and test predictions.

    It has no randomness (lbfgs / closed form), so one run stands for every seed.
    """
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    if task.regression:
        name, model = BAG_OF_WORDS_REGRESSION, Ridge(alpha=1.0)
    else:
        name, model = BAG_OF_WORDS, LogisticRegression(C=10.0, max_iter=2000)
    pipeline = make_pipeline(vectorizer, model)
    pipeline.fit(_joined(task.train), np.asarray(task.train.labels))
    return name, pipeline.predict(_joined(task.test))
