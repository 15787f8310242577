#include "probe/probe_output.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"

namespace privprobe {
namespace {

constexpr const char* kFoldsFile = "folds.json";

// Six decimals: enough for any accuracy or p-value, and stable to read and diff.
nlohmann::json figure(double value) {
  if (!std::isfinite(value)) return nullptr;
  return std::round(value * 1e6) / 1e6;
}

std::string csv_figure(double value) {
  if (!std::isfinite(value)) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6f", value);
  return buffer;
}

void prepare_folder(const std::filesystem::path& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec || !std::filesystem::is_directory(out)) {
    throw IoError(error_message(out.string(), "cannot create the output folder", ec ? ec.message() : "not a folder"));
  }
}

}  // namespace

nlohmann::json probe_result_to_json(const ProbeResult& result) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerProbeResult& layer : result.layers) {
    layers.push_back({{"layer", layer.layer},
                      {"accuracy", figure(layer.accuracy)},
                      {"ci_low", figure(layer.ci_low)},
                      {"ci_high", figure(layer.ci_high)},
                      {"auc", figure(layer.auc)},
                      {"control", figure(layer.control)},
                      {"selectivity", figure(layer.selectivity)},
                      {"n", layer.n}});
  }
  nlohmann::json config = result.config.to_json();
  config["layers"] = nlohmann::json::array();
  for (const LayerProbeResult& layer : result.layers) config["layers"].push_back(layer.layer);
  if (result.folds.split == "file") {  // the folds came from a file: describe those
    config["folds_from_file"] = true;
    config["repeats"] = result.folds.repeats.size();
    config["folds"] = result.folds.repeats.front().size();
  }
  return {{"format_version", kFormatVersion},
          {"source", result.source},
          {"samples", result.folds.samples},
          {"layers", std::move(layers)},
          {"best_layer", result.best_layer},
          {"config", std::move(config)},
          {"folds", kFoldsFile},
          {"warnings", result.warnings}};
}

std::string probe_result_to_csv(const ProbeResult& result) {
  std::ostringstream csv;
  csv << "layer,accuracy,ci_low,ci_high,auc,control,selectivity,n\n";
  for (const LayerProbeResult& layer : result.layers) {
    csv << layer.layer << ',' << csv_figure(layer.accuracy) << ',' << csv_figure(layer.ci_low) << ','
        << csv_figure(layer.ci_high) << ',' << csv_figure(layer.auc) << ',' << csv_figure(layer.control) << ','
        << csv_figure(layer.selectivity) << ',' << layer.n << '\n';
  }
  return csv.str();
}

nlohmann::json compare_result_to_json(const CompareResult& result, const CompareJob& job) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerComparison& layer : result.layers) {
    layers.push_back({{"layer", layer.layer},
                      {"base_accuracy", figure(layer.base_accuracy)},
                      {"tuned_accuracy", figure(layer.tuned_accuracy)},
                      {"difference", figure(layer.difference)},
                      {"ci_low", figure(layer.ci_low)},
                      {"ci_high", figure(layer.ci_high)},
                      {"p_value", figure(layer.p_value)},
                      {"p_holm", figure(layer.p_holm)},
                      {"base_control", figure(layer.base_control)},
                      {"tuned_control", figure(layer.tuned_control)}});
  }
  nlohmann::json config = job.config.to_json();
  config["permutations"] = job.config.permutations;
  config["layers"] = nlohmann::json::array();
  for (const LayerComparison& layer : result.layers) config["layers"].push_back(layer.layer);
  std::vector<std::string> warnings = result.base.warnings;
  warnings.insert(warnings.end(), result.tuned.warnings.begin(), result.tuned.warnings.end());
  return {{"format_version", kFormatVersion},
          {"base", job.base.string()},
          {"tuned", job.tuned.string()},
          {"samples", result.base.folds.samples},
          {"layers", std::move(layers)},
          {"config", std::move(config)},
          {"folds", kFoldsFile},
          {"warnings", warnings}};
}

FoldPlan read_fold_plan(const std::filesystem::path& path) {
  return fold_plan_from_json(read_json(path), path.string());
}

ProbeResult run_probe_job(const ProbeJob& job) {
  job.config.validate();
  if (job.out.empty()) throw ConfigError(error_message("--out", "an output folder is required"));
  FoldPlan folds;
  if (!job.folds_from.empty()) folds = read_fold_plan(job.folds_from);
  const auto start = std::chrono::steady_clock::now();
  const ActivationSet set = load_activations(job.acts);
  const ProbeResult result = run_probe(set, job.config, job.folds_from.empty() ? nullptr : &folds);
  // Timing goes to the log only, so that the outputs stay byte-identical between runs.
  spdlog::info("probe: {} layer(s) of {} samples probed in {:.2f} s", result.layers.size(), set.samples,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  prepare_folder(job.out);
  write_json_atomic(job.out / kFoldsFile, fold_plan_to_json(result.folds));
  write_file_atomic(job.out / "probe.csv", probe_result_to_csv(result));
  write_json_atomic(job.out / "probe.json", probe_result_to_json(result));  // last: its presence means done
  return result;
}

CompareResult run_compare_job(const CompareJob& job) {
  job.config.validate();
  if (job.out.empty()) throw ConfigError(error_message("--out", "an output folder is required"));
  FoldPlan folds;
  if (!job.folds_from.empty()) folds = read_fold_plan(job.folds_from);
  const ActivationSet base = load_activations(job.base);
  const ActivationSet tuned = load_activations(job.tuned);
  const CompareResult result = run_compare(base, tuned, job.config, job.folds_from.empty() ? nullptr : &folds);
  prepare_folder(job.out);
  write_json_atomic(job.out / kFoldsFile, fold_plan_to_json(result.base.folds));
  write_json_atomic(job.out / "compare.json", compare_result_to_json(result, job));
  return result;
}

std::string probe_summary(const ProbeResult& result) {
  std::ostringstream line;
  line << "probe: " << result.layers.size() << " layer(s) of " << result.source;
  for (const LayerProbeResult& layer : result.layers) {
    if (layer.layer != result.best_layer) continue;
    line << ", best layer " << layer.layer << ": accuracy " << csv_figure(layer.accuracy) << " ["
         << csv_figure(layer.ci_low) << ", " << csv_figure(layer.ci_high) << "]";
    if (std::isfinite(layer.control)) line << ", control " << csv_figure(layer.control);
  }
  return line.str();
}

std::string compare_summary(const CompareResult& result) {
  std::ostringstream line;
  std::size_t significant = 0;
  const LayerComparison* largest = nullptr;
  for (const LayerComparison& layer : result.layers) {
    if (layer.p_holm < 0.05) ++significant;
    if (!largest || std::abs(layer.difference) > std::abs(largest->difference)) largest = &layer;
  }
  line << "compare: " << result.layers.size() << " layer(s), " << significant << " with p_holm < 0.05";
  if (largest) {
    line << "; largest difference at layer " << largest->layer << ": " << csv_figure(largest->difference)
         << " (p_holm " << csv_figure(largest->p_holm) << ")";
  }
  return line.str();
}

}  // namespace privprobe
