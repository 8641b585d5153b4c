"""Train the example model: scikit-learn's iris data set, a logistic regression, saved with joblib.

Usage: python examples/train_iris.py OUTPUT_DIR   (writes OUTPUT_DIR/model.joblib)
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(out: Path) -> None:
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    print(f"wrote {out / 'model.joblib'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/models/sklearn-iris"))
