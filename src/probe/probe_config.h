// Settings of `privprobe probe` (see ../shared/DESIGN.md, "Measurements"): how the samples are
// split, how the per-layer logistic regressions are regularised and solved, and the statistics
// reported beside the accuracy. The CLI fills this struct; run_probe() takes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

// kKFold: stratified k-fold grouped by base image or profile, repeated with different seeds,
//         features standardised on each training fold.
// kPaper: the paper's protocol: one stratified 80/20 split by sample, seed 42, no standardisation.
enum class ProbeSplit { kKFold, kPaper };

// Which samples must stay on the same side of a split. kImage: the file's `groups` (the base
// image; one group per sample when absent). kProfile: the file's `profiles`, so every fold tests
// identities the probe never saw (the stricter question; see ../shared/SCIENCE-NOTES.md).
enum class ProbeGroupBy { kImage, kProfile };

ProbeSplit parse_probe_split(const std::string& name);        // "kfold" | "paper"; ConfigError
ProbeGroupBy parse_probe_group_by(const std::string& name);   // "image" | "profile"; ConfigError
std::string probe_split_name(ProbeSplit split);
std::string probe_group_by_name(ProbeGroupBy group_by);

inline constexpr std::uint64_t kPaperSplitSeed = 42;
inline constexpr double kPaperTestFraction = 0.2;

struct ProbeConfig {
  int folds = 5;
  int repeats = 3;                // kfold only; the paper split is a single one
  double C = 1.0;                 // inverse L2 strength, as scikit-learn's LogisticRegression
  ProbeGroupBy group_by = ProbeGroupBy::kImage;
  ProbeSplit split = ProbeSplit::kKFold;
  std::uint64_t seed = 0;         // folds, control permutations, bootstrap, solver sketches
  bool control = true;            // also fit every probe on permuted labels
  int bootstrap = 1000;           // resamples of groups for the 95 % interval
  int permutations = 10000;       // `--compare`: sign flips per layer
  std::vector<int> layers;        // empty: every layer, in order
  // Solver: stop when the gradient norm falls below tolerance x its value at w = 0. At 1e-7 every
  // layer of the benchmark's states (N = 1000, D = 4096) classifies its test samples exactly as
  // the exact optimum does (measured; 1e-6 left one sample off in two layers of 32).
  double tolerance = 1e-7;
  int max_iterations = 500;

  void validate() const;  // throws ConfigError
  nlohmann::json to_json() const;
};

}  // namespace privprobe
