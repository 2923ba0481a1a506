"""A training script as MLflow users write them: autolog plus a metric of its own."""

from __future__ import annotations

import argparse

import mlflow
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=300)
    args = parser.parse_args()

    mlflow.sklearn.autolog()
    x, y = load_wine(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    with mlflow.start_run():
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter)
        )
        model.fit(x_train, y_train)
        accuracy = model.score(x_test, y_test)
        mlflow.log_metric("test_accuracy", accuracy)
        print(f"test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
