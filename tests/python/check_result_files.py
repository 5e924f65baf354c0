"""Reads patchbay result files with h5py, an HDF5 reader independent of patchbay, using only
the names docs/FORMAT.md documents. Usage: check_result_files.py WORD_INDEX.h5 COUNTING_CIRCUIT.h5,
or check_result_files.py --patching PATCHING.h5 PAIRS.jsonl.
Prints one line per failed check and exits 1 if any failed."""
import json
import sys

import h5py
import numpy as np

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def check_every_dataset(f):
    """Every dataset has a description; every one with dimensions names each of them in `axes`."""
    count = 0

    def visit(name, obj):
        nonlocal count
        if not isinstance(obj, h5py.Dataset):
            return
        count += 1
        check("description" in obj.attrs and len(str(obj.attrs["description"])) > 0, f"{f.filename}:{name}: no description")
        if obj.ndim > 0:
            axes = obj.attrs.get("axes")
            check(axes is not None and len(axes) == obj.ndim, f"{f.filename}:{name}: axes {axes!r} for shape {obj.shape}")
        if h5py.check_string_dtype(obj.dtype) is not None:
            check(h5py.check_string_dtype(obj.dtype).encoding == "utf-8", f"{f.filename}:{name}: strings are not UTF-8")

    f.visititems(visit)
    check(count > 10, f"{f.filename}: only {count} datasets")


def axes(ds):
    return [a.decode() if isinstance(a, bytes) else str(a) for a in ds.attrs["axes"]]


def check_root(f, kind):
    check(f.attrs["kind"] == kind, f"{f.filename}: kind {f.attrs['kind']!r}")
    check(isinstance(f.attrs["format_version"], (np.integer, int)), f"{f.filename}: format_version is not an integer")
    provenance = json.loads(f.attrs["provenance"])
    check(len(provenance["command_line"]) >= 1, f"{f.filename}: provenance has no command line")
    check(len(provenance["model_sha256"]) == 64, f"{f.filename}: model_sha256 {provenance['model_sha256']!r}")
    if kind != "patching":
        check(isinstance(f.attrs["seed"], (np.integer, int)), f"{f.filename}: seed is not a number")
    return provenance


def check_word_index(path):
    with h5py.File(path, "r") as f:
        check_root(f, "word_index")
        check_every_dataset(f)
        tokens = f["dataset/val/tokens"]
        check(axes(tokens) == ["prompt", "position"], f"dataset/val/tokens axes {axes(tokens)}")
        check(tokens.attrs["padding"] == -1, "dataset/val/tokens padding")
        lengths = f["dataset/val/lengths"][()]
        for row, n in zip(tokens[()], lengths):
            check(np.all(row[n:] == -1) and np.all(row[:n] >= 0), "token rows are padded with -1 after their length")
        summary = json.loads(f.attrs["summary"])
        layer = summary["main_layer"]
        probe = f[f"layers/{layer}/probe"]
        check(axes(probe["W"]) == ["feature", "class"], f"probe W axes {axes(probe['W'])}")
        check(probe.attrs["iterations"] > 0 and isinstance(probe.attrs["loss"], (np.floating, float)), "probe attributes are numbers")
        accuracy = f[f"layers/{layer}/val/accuracy"][()]
        check(abs(float(accuracy) - summary["val_accuracy"]) < 1e-6, "val accuracy matches the summary")
        cells = f[f"layers/{layer}/val/cells"]
        check(axes(cells) == ["word", "position", "predicted_word"], f"cells axes {axes(cells)}")


def check_counting_circuit(path, word_index_path):
    with h5py.File(path, "r") as f:
        provenance = check_root(f, "counting_circuit")
        check_every_dataset(f)
        inputs = provenance["inputs"]
        check(len(inputs) == 1 and inputs[0]["path"] == word_index_path, f"inputs {inputs}")
        import hashlib
        with open(word_index_path, "rb") as probe_file:
            check(inputs[0]["sha256"] == hashlib.sha256(probe_file.read()).hexdigest(), "input sha256 matches the probe file")
        # The contract names of issue 12: patching/<sweep>/<direction>/{metric,clean,corrupted,effect}.
        group = f["patching/z_layer_head/clean_into_corrupted"]
        n_pairs = f["pairs/clean"].shape[0]
        check(group["clean"].shape == (n_pairs,) and axes(group["clean"]) == ["pair"], "patching clean is [pair]")
        check(axes(group["metric"]) == ["pair", "layer", "head"], f"metric axes {axes(group['metric'])}")
        check(axes(group["effect"]) == ["layer", "head"], f"effect axes {axes(group['effect'])}")
        scores = f["heads/scores"]
        check(axes(scores) == ["layer", "head", "pattern"], f"heads/scores axes {axes(scores)}")
        check(scores.shape[2] == f["heads/patterns"].shape[0], "heads/patterns labels the pattern axis")
        check(f["edges/scores"].shape == (f["edges/senders"].shape[0], f["edges/receivers"].shape[0]), "edges/scores labelled")
        graph = f["graph"]
        for key in ["seed", "readout_layer", "model_layers", "n_heads", "n_kv_heads", "d_model"]:
            check(isinstance(graph.attrs[key], (np.integer, int)), f"graph attribute {key} is not an integer")
        check(isinstance(f["attribution/z_layer_head_position"].attrs["correlation_with_patching"], (np.floating, float)),
              "correlation_with_patching is a number")
        names = [n.decode() if isinstance(n, bytes) else n for n in graph["nodes/name"][()]]
        check("input" in names and "readout" in names, "graph nodes name input and readout")


def check_patching(path, pairs_path):
    with h5py.File(path, "r") as f:
        provenance = check_root(f, "patching")
        check_every_dataset(f)
        import hashlib
        with open(pairs_path, "rb") as pairs_file:
            digest = hashlib.sha256(pairs_file.read()).hexdigest()
        check({"path": pairs_path, "sha256": digest} in provenance["inputs"], f"inputs {provenance['inputs']} lack the pairs file")
        n_pairs = f["pairs/clean"].shape[0]
        for leaf in ["metric", "clean", "corrupted", "effect"]:
            check(f"patching/z_layer_head/clean_into_corrupted/{leaf}" in f, f"no patching/z_layer_head/clean_into_corrupted/{leaf}")
        check(f["patching/z_layer_head/clean_into_corrupted/clean"].shape == (n_pairs,), "patching clean is [pair]")
        check(axes(f["pairs/correct"]) == ["pair"], "pairs/correct is [pair]")
        check(isinstance(f.attrs["metric"], str) and len(f.attrs["metric"]) > 0, "metric names the metric")
        for key in ["metric_clean", "metric_corrupted", "metric_difference", "metric_standard_error"]:
            check(isinstance(f.attrs[key], (np.floating, float)), f"{key} is not a float")
        for key in ["metric_layer", "metric_clean_sign", "metric_separated"]:
            check(isinstance(f.attrs[key], (np.integer, int)), f"{key} is not an integer")
        if "graph/spans" in f:
            check_spans(f, n_pairs)


def text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def check_spans(f, n_pairs):
    # A position-aware graph: graph/spans/{name,first,last}, graph/nodes/span, NAME@SPAN names.
    spans = text(f["graph/spans/name"][()])
    first, last = f["graph/spans/first"][()], f["graph/spans/last"][()]
    check(axes(f["graph/spans/first"]) == ["pair", "span"] and first.shape == (n_pairs, len(spans)), "graph/spans/first is [pair, span]")
    check(bool((first[:, 0] == 0).all()) and bool((first[:, 1:] == last[:, :-1] + 1).all()), "spans cover the prompt in order")
    check(bool((last[:, -1] == f["pairs/target"][()]).all()), "the last span ends at the target")
    names, node_spans = text(f["graph/nodes/name"][()]), text(f["graph/nodes/span"][()])
    for name, span in zip(names, node_spans):
        check((name.split("@")[1] if "@" in name else "") == span, f"node {name} has span '{span}'")
        check(span == "" or span in spans, f"node {name}: span {span} is not in graph/spans/name")
    check(f["graph"].attrs["span_aggregation"] in ("sum", "mean", "abs-sum", "max-abs", "exact"), "graph span_aggregation")


if __name__ == "__main__":
    if sys.argv[1] == "--patching":
        check_patching(sys.argv[2], sys.argv[3])
    else:
        check_word_index(sys.argv[1])
        check_counting_circuit(sys.argv[2], sys.argv[1])
    for failure in failures:
        print(failure)
    print(f"h5py checks: {len(failures)} failed")
    sys.exit(1 if failures else 0)
