// `privprobe dynamics compare RUN_A RUN_B`: the per-step cosine between two runs' gradient sketches
// (dynamics.jsonl, written by measure_dynamics) over the steps both logged. Runs with the same seed
// see the same data order, so this is the paper's comparison of runs at different rates.
// Torch-free, so the CLI can use it without libtorch's headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

inline constexpr const char* kDynamicsFileName = "dynamics.jsonl";

struct SketchComparison {
  std::vector<std::pair<int64_t, double>> per_step;  // (step, cosine), steps ascending
  double mean = 0, min = 0;
  std::filesystem::path file_a, file_b;  // the dynamics.jsonl files compared
  std::size_t steps_a = 0, steps_b = 0;  // steps each file logged
  int sketch_size = 0;
};

// A run folder (holding dynamics.jsonl) or the file itself -> the file. Throws IoError when neither.
std::filesystem::path resolve_dynamics_file(const std::filesystem::path& run_or_file);

// Reads both files (folders accepted, as above). Throws IoError (missing), FormatError (not JSON
// lines) or DataError naming the file and line: a row without a step or a sketch, sketches of
// different sizes or seeds, a zero sketch on a common step, or no step that both runs logged.
// A step logged twice in one file (a resumed run) counts with its last row.
SketchComparison compare_dynamics(const std::filesystem::path& dynamics_a, const std::filesystem::path& dynamics_b);

// {"format_version", "run_a", "run_b", "per_step": [{"step", "cosine"}], "summary": {...}}.
nlohmann::json sketch_comparison_to_json(const SketchComparison& comparison);

// A table (step, cosine) and a summary line, for the terminal.
std::string format_sketch_comparison(const SketchComparison& comparison);

}  // namespace privprobe
