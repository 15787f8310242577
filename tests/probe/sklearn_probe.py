#!/usr/bin/python3
"""scikit-learn reference for `privprobe probe`, on the same file and the same folds.

Reads an activation file (safetensors: states [N, L, D], labels [N]) and a folds.json written by
`privprobe probe`, fits scikit-learn's LogisticRegression(C, lbfgs, max_iter=10000) per layer and
fold -- on features standardised with the training fold's mean and std (StandardScaler), or raw
with --raw (the paper's protocol) -- and prints JSON: per layer the accuracy as privprobe defines
it (per repeat, the fraction of tested samples classified correctly; mean over repeats).

Usage: /usr/bin/python3 sklearn_probe.py --acts FILE --folds folds.json [--raw] [--C 1.0] [--tol 1e-4]
       [--solver lbfgs|newton-cg]
"""
import argparse
import json
import struct
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--acts", required=True)
    ap.add_argument("--folds", required=True)
    ap.add_argument("--raw", action="store_true", help="no standardisation")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--solver", default="lbfgs", help="lbfgs (scikit-learn's default) or newton-cg")
    a = ap.parse_args()

    tensors = read_safetensors(a.acts)
    states = tensors["states"].astype(np.float64)
    labels = tensors["labels"].astype(int)
    with open(a.folds) as f:
        plan = json.load(f)
    n, layers, _ = states.shape
    result = {"layers": [], "unconverged": 0}
    for layer in range(layers):
        x = states[:, layer, :]
        accuracies = []
        for repeat in plan["repeats"]:
            correct = 0
            tested = 0
            for fold in repeat["folds"]:
                test = np.array(fold["test"], dtype=int)
                train = np.setdiff1d(np.arange(n), test)
                x_train, x_test = x[train], x[test]
                if not a.raw:
                    scaler = StandardScaler().fit(x_train)
                    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    model = LogisticRegression(C=a.C, max_iter=10000, tol=a.tol, solver=a.solver).fit(x_train, labels[train])
                result["unconverged"] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                correct += int(np.sum(model.predict(x_test) == labels[test]))
                tested += len(test)
            accuracies.append(correct / tested)
        result["layers"].append({"layer": layer, "accuracy": float(np.mean(accuracies))})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
