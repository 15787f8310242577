// `privprobe study`: the whole experiment in one command (docs/study.md; folder layout and
// results.json: docs/study-format.md). Synthetic album (or a user's dataset) -> profiles U1, U2,
// U0 -> watermarked fine-tuning data per arm -> base model -> fine-tuned models per arm x seed ->
// probe set -> states -> probes, comparisons, perception check -> prompt baseline -> VQA accuracy
// -> results.json, the table on stdout, report.html.
//
// Every stage runs in this process through its library function, cached by key
// (study/stage_cache.h): a rerun skips finished stages, an interrupted one resumes. Same config
// and seed, same bytes in every file of the folder except the timing files (timing.json,
// train_timing.jsonl, *_timing.json, *.timing.json).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <filesystem>
#include <string>
#include <vector>

#include "study/study_config.h"

namespace privprobe {

struct StudyOptions {
  std::filesystem::path config_file;  // empty: the embedded default
  std::string preset;                 // empty: none; "reading": configs/reading.toml under config_file
  std::filesystem::path out;          // empty: [study] out
  bool quick = false;
  std::optional<std::uint64_t> seed;  // overrides [study] seed
  std::vector<std::string> force;     // stage names ("finetune:r0.5-s0"), kinds ("finetune") or "all";
                                      // the stages that read their outputs rerun too
  bool progress = true;               // the stages' own progress bars
  bool print_table = true;            // the result table on stdout
};

struct StudyResult {
  std::filesystem::path folder;
  std::size_t stages = 0;
  std::size_t ran = 0;
  std::size_t skipped = 0;
  std::string conclusion;  // negative | positive | inconclusive
};

// Throws the privprobe::Error hierarchy (ConfigError for the config and --force names).
StudyResult run_study(const StudyOptions& options);

// The stage names a config gives, in run order (for --force and tests).
std::vector<std::string> study_stage_names(const StudyConfig& config, const std::filesystem::path& folder);

}  // namespace privprobe
