// The file side of `privprobe probe`: reads activation files (and a fold plan to reuse), runs the
// probes and writes, atomically, into the output folder:
//   probe.json    {"format_version", "source", "samples", "layers": [{"layer", "accuracy", "ci_low",
//                 "ci_high", "auc", "control", "selectivity", "n"}, ...], "best_layer", "config",
//                 "folds": "folds.json", "warnings"}
//   probe.csv     the same per-layer columns, one row per layer
//   folds.json    the test indices of every repeat and fold (folds.h)
//   compare.json  with --compare: per-layer differences, intervals, p-values (compare.h)
// Figures are rounded to 6 decimals; NaN (no control) is written as null / an empty cell.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "probe/compare.h"
#include "probe/probe.h"

namespace privprobe {

struct ProbeJob {
  std::filesystem::path acts;        // activations.safetensors
  std::filesystem::path out;         // output folder
  std::filesystem::path folds_from;  // optional: a folds.json to reuse
  ProbeConfig config;
};

struct CompareJob {
  std::filesystem::path base;
  std::filesystem::path tuned;
  std::filesystem::path out;
  std::filesystem::path folds_from;
  ProbeConfig config;
};

nlohmann::json probe_result_to_json(const ProbeResult& result);
std::string probe_result_to_csv(const ProbeResult& result);
nlohmann::json compare_result_to_json(const CompareResult& result, const CompareJob& job);

// Reads a fold plan written by probe (or by hand). Throws IoError / FormatError naming the file.
FoldPlan read_fold_plan(const std::filesystem::path& path);

// Load, probe, write. Throws the privprobe::Error hierarchy; writes nothing on error.
ProbeResult run_probe_job(const ProbeJob& job);
CompareResult run_compare_job(const CompareJob& job);

// One line for the CLI: "probe: 33 layers of FILE, best layer 18: accuracy 0.97 [0.95, 0.98], control 0.50".
std::string probe_summary(const ProbeResult& result);
std::string compare_summary(const CompareResult& result);

}  // namespace privprobe
