"""nnf.metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nnf import metrics
from nnf.errors import ConfigError
from nnf.labels import Targets

Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array([0, 1, 1, 1, 2, 0])  # predicted classes


def test_accuracy_and_confusion_matrix() -> None:
    assert metrics.accuracy(Y, P) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(metrics.confusion_matrix(Y, P), [[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_precision_recall_f1_per_class_and_macro() -> None:
    prf = metrics.precision_recall_f1(Y, P)
    np.testing.assert_allclose(prf["precision"], [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(prf["recall"], [1 / 2, 1, 1 / 2])
    f1 = [0.5, 0.8, 2 / 3]
    np.testing.assert_allclose(prf["f1"], f1)
    assert metrics.f1(Y, P) == pytest.approx(np.mean(f1))
    assert metrics.precision(Y, P) == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert metrics.recall(Y, P) == pytest.approx(2 / 3)


def test_top_k_accuracy() -> None:
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    y = np.array([1, 0, 1])
    assert metrics.top_k_accuracy(y, scores, 1) == pytest.approx(1 / 3)
    assert metrics.top_k_accuracy(y, scores, 2) == pytest.approx(2 / 3)
    assert metrics.top_k_accuracy(y, scores, 3) == 1.0


def test_regression_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 4.0])
    assert metrics.mae(y, p) == pytest.approx(0.375)
    assert metrics.rmse(y, p) == pytest.approx(math.sqrt(1.25 / 4))
    assert metrics.r2(y, p) == pytest.approx(1 - 1.25 / 5)


def test_compute_picks_the_task_metrics_and_refuses_mismatches() -> None:
    scores = np.eye(3)[P].astype(np.float32)
    classes = Targets(Y, "classification", Y)
    assert metrics.compute(classes, scores) == {"accuracy": pytest.approx(4 / 6)}
    found = metrics.compute(classes, scores, ["top_2_accuracy", "f1"])
    assert set(found) == {"top_2_accuracy", "f1"}
    values = Targets(np.ones((3, 1)), "regression")
    assert set(metrics.compute(values, np.ones((3, 1)))) == {"mae", "rmse", "r2"}
    with pytest.raises(ConfigError, match="regression"):
        metrics.compute(values, np.ones((3, 1)), ["accuracy"])
    with pytest.raises(ConfigError, match="'accuracy'"):
        metrics.check_metrics(["acuracy"])


def test_classification_report_names_classes() -> None:
    report = metrics.classification_report(Y, np.eye(3)[P], ["a", "b", "c"])
    assert [c["name"] for c in report["per_class"]] == ["a", "b", "c"]
    assert report["per_class"][1]["recall"] == 1.0
    assert report["confusion_matrix"][2] == [1, 0, 1]


def test_class_scores_keep_probabilities_and_softmax_logits() -> None:
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(metrics.class_scores(probs), probs)
    logits = np.array([[2.0, 0.0]])
    np.testing.assert_allclose(metrics.class_scores(logits).sum(axis=1), 1)
    np.testing.assert_allclose(metrics.class_scores(np.array([[0.7]])), [[0.3, 0.7]])
