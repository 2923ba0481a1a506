"""Train an SVM on the iris data set and log its params and accuracy into the run."""

from __future__ import annotations

import argparse
import json
import os

import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from mlrun_cli import tracking


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--kernel", default="rbf")
    parser.add_argument("--test-size", type=float, default=0.3)
    args = parser.parse_args()

    data = pd.read_csv(args.dataset)
    x = data.drop(columns=["species"])
    y = data["species"]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=args.test_size, random_state=42, stratify=y
    )
    model = SVC(C=args.C, kernel=args.kernel)
    model.fit(x_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(x_test))

    tracking.log_params({"test_size": args.test_size, "n_train": len(x_train)})
    tracking.log_metric("accuracy", accuracy)
    tracking.log_metric("n_support", float(model.n_support_.sum()))
    out_dir = tracking.artifact_dir()
    if out_dir:
        with open(os.path.join(out_dir, "classes.json"), "w") as fh:
            json.dump(sorted(y.unique().tolist()), fh)
    print(f"accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
