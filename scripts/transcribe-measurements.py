#!/usr/bin/env python3
"""Transcribes the public measurements in shared/data/published into data/measurements.csv,
the format `chipmix calibrate` reads. Run from the repository root:

    python3 scripts/transcribe-measurements.py ../shared/data/published > data/measurements.csv

Every row keeps its source. Rows whose workload the sources do not pin down (dataset token
lengths, context parallelism, a model architecture only shown in an image) are kept with
kind=not_modeled and the reason, so the validation report accounts for every published row.
"""
import csv, sys, os

root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/published"
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["id", "chip", "chips", "offering", "model", "kind", "precision", "tp", "pp", "dp", "batch",
              "input_tokens", "output_tokens", "seq_len", "global_batch_tokens", "metric", "value",
              "source", "notes"])

NEURON_SRC = "https://github.com/aws-neuron/aws-neuron-sdk/blob/81ce03ae261e12925e53437a0f690478e6366155/"
MODELS = {"Llama-3-8B": "llama-3-8b", "Llama-3-70B": "llama-3-70b", "Llama-2-7b": "llama-2-7b",
          "Llama-2-13b": "llama-2-13b", "Llama-2-70b": "llama-2-70b",
          "Mistral-7B-Instruct-v0.2": "mistral-7b-instruct-v0.2", "CodeLlama-13b-hf": "codellama-13b"}

def neuron_inference(path, chip, offering, src, tag):
    with open(path) as f:
        for i, r in enumerate(csv.DictReader(f), 1):
            model = MODELS[r["Model"]]
            tp_cores = int(r["TP Degree"])
            tp_chips = tp_cores // 2  # NeuronCore-v2: 2 per chip
            prec = "int8" if r["Weight Storage Data Type"] == "int8" else "bf16"
            rid = f"{tag}-{i:02d}"
            common = [chip, tp_chips, offering, model, "static_batch", prec, tp_chips, 1, 1, r["Batch Size"],
                      r["Input Length"], r["Output Length"], r["Sequence Length"], ""]
            note = f"{r['Model']}; TP {tp_cores} NeuronCores; Neuron {r['Neuron Version']}; P50 latencies"
            out.writerow([rid, *common, "output_tokens_per_s", r["Output Token Throughput (tokens/sec)"], src, note])
            out.writerow([rid, *common, "ttft_ms", r["TTFT Latency P50 (ms)"], src, note])
            out.writerow([rid, *common, "tpot_ms", r["TPOT Latency P50 (ms)"], src, note])

neuron_inference(os.path.join(root, "neuron/inf2/throughput_data_decoder.csv"), "inferentia2", "inf2.48xlarge",
                 NEURON_SRC + "about-neuron/benchmarks/inf2/throughput_data_decoder.csv", "inf2")
neuron_inference(os.path.join(root, "neuron/trn1/throughput_data_decoder.csv"), "trainium", "trn1.32xlarge",
                 NEURON_SRC + "about-neuron/benchmarks/trn1/throughput_data_decoder.csv", "trn1-inf")

TRAIN_MODELS = {"Llama-3.1-8B": "llama-3-8b", "Llama-3.1-70B": "llama-3-70b", "Llama2-7B": "llama-2-7b",
                "Llama2-13B": "llama-2-13b", "Llama2-70B": "llama-2-70b"}

def neuron_training(path, src, tag, batch_col):
    with open(path) as f:
        for i, r in enumerate(csv.DictReader(f, skipinitialspace=True), 1):
            name = r["Model"].replace(" pre-training", "")
            topo = dict(kv.split("=") for kv in r["Topology"].split() if "=" in kv)
            tp_chips = int(topo["TP"]) // 2
            pp = int(topo.get("PP", 1))
            nodes = int(r["Nodes"])
            chips = nodes * 16
            dp = chips // (tp_chips * pp)
            seq = int(r["Sequence Length"])
            gbt = int(r[batch_col]) * seq
            seq_per_s = float(r["Performance [seq/sec]"])
            out.writerow([f"{tag}-{i:02d}", "trainium", chips, "trn1.32xlarge", TRAIN_MODELS[name], "train", "bf16",
                          tp_chips, pp, dp, r["Microbatch"], "", "", seq, gbt, "tokens_per_s", round(seq_per_s * seq, 1), src,
                          f"{r['Model']}; {r['Topology']} in NeuronCores; {nodes} nodes; Neuron {r['Neuron Version']}; {seq_per_s} seq/s"])

neuron_training(os.path.join(root, "neuron/trn1/training_data_decoder.csv"),
                NEURON_SRC + "about-neuron/benchmarks/trn1/training_data_decoder.csv", "trn1-train-2.24", "Globalbatch")
neuron_training(os.path.join(root, "neuron/trn1/neuron-2.21/training_data_decoder.csv"),
                "https://github.com/aws-neuron/aws-neuron-sdk/blob/752349fd3de5aaa6eb69690955eeaa7d43fcd082/general/benchmarks/trn1/training_data_decoder.csv",
                "trn1-train-2.21", "Global Minibatch")

# GPU rows (shared/data/published/gpu-calibration.csv).
with open(os.path.join(root, "gpu-calibration.csv")) as f:
    for i, r in enumerate(csv.DictReader(f), 1):
        rid = f"gpu-{i:02d}"
        src, scen, model = r["source_url"], r["scenario"], r["model"]
        chip = {"H100": "h100", "H200": "h200", "B200": "b200", "MI300X": "mi300x", "A100": "a100-80gb"}[
            next(k for k in ["H100", "H200", "B200", "MI300X", "A100"] if r["chip"].startswith(k))]
        if model == "Llama-3.1-405B" and " CP1 " in scen:
            dp = 64 if r["chips"] == "8192" else 128
            out.writerow([rid, chip, r["chips"], "p5.48xlarge", "llama-3.1-405b", "train", "bf16", 8, 16, dp, "", "", "", 8192,
                          2048 * 8192, "mfu", float(r["value"]) / 100, src, f"{scen}; {r['notes']}"])
        elif model == "GPT-3 175B":
            out.writerow([rid, chip, r["chips"], "p5.48xlarge", "gpt-3-175b", "train", "bf16", "", "", "", "", "", "", 4096,
                          1152 * 4096, "mfu", float(r["value"]) / 100, src,
                          f"{scen}; {r['notes']}; ASSUMED seq 4096 (the README's weak-scaling sweep); parallel degrees not published, so the search picks them"])
        else:
            if model.startswith("Llama-3.1-405B"):
                why = "context parallelism (CP16) is not modeled"
            elif model.startswith("GPT "):
                why = "architecture and GPU count of this sweep point are only in an image of the README"
            elif "MLPerf" in scen:
                why = "the row does not give the OpenOrca prompt/output token lengths of the run, and the server result is a p99-constrained rate"
            else:
                why = "ShareGPT prompt/output lengths and the concurrency over the run are not stated; the source attributes v0.5.4 results to CPU overhead"
            out.writerow([rid, chip, r["chips"], "", model, "not_modeled", "", "", "", "", "", "", "", "", "", r["metric"], r["value"],
                          src, f"{scen}; NOT MODELED: {why}"])
