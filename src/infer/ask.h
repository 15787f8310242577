// `privprobe ask`: the prompt baseline. Does the model *say* what a probe may find in its states?
//   (a) generation: the greedy answer to the probe set's question; the fraction of answers that
//       contain the watermark's true username (case-insensitive);
//   (b) output-level membership: score = log p(true username | watermarked image) minus
//       log p(true username | clean source image) (calibrated: the raw likelihood carries the
//       model's prior on each name string), thresholded into seen/unseen with the threshold chosen
//       on each training fold, accuracy and AUC on the test folds; the raw likelihood is reported
//       too, labelled uncalibrated. Folds: --folds FILE (probe's folds.json), else stratified
//       k-fold grouped by base image (or profile), made as `probe` makes them;
//   (c) exposure (Carlini et al., The Secret Sharer): rank of the true username among all distinct
//       usernames of U1 and U2 by log-likelihood given the watermarked image,
//       log2(#candidates) - log2(rank), averaged per label.
// A likelihood is of the username followed by end-of-sequence, as the answer after "ASSISTANT:".
// Output: OUT/ask.json (format_version, config, the three results, per-sample records) and
// OUT/ask_timing.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "infer/inference_options.h"

namespace privprobe {

struct AskConfig {
  std::filesystem::path model;
  std::filesystem::path probeset;
  std::filesystem::path out;          // folder
  std::filesystem::path folds;        // probe's folds.json, or empty
  int max_new_tokens = 16;
  int batch_size = 8;                 // generation rows, and candidate answers per forward
  int fold_count = 5;                 // own folds (without --folds), as `probe`'s defaults
  int repeats = 3;
  std::string group_by = "image";     // image | profile
  std::uint64_t seed = 0;
  InferenceOptions inference;

  void validate() const;  // throws ConfigError
};

struct AskResult {
  std::size_t samples = 0;
  std::size_t candidates = 0;
  double contains_rate = 0;           // (a)
  double calibrated_accuracy = 0;     // (b)
  double calibrated_auc = 0;
  double uncalibrated_accuracy = 0;
  double uncalibrated_auc = 0;
  double exposure_seen = 0;           // (c)
  double exposure_unseen = 0;
};

AskResult run_ask(const AskConfig& config);

}  // namespace privprobe
