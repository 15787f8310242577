// `privprobe eval`: VQA accuracy of a checkpoint on held-out data (is the task still learnt?).
// Every human question followed by an answer is one item: the conversation up to that question
// (earlier answers as given, the image with the first turn) ends with "ASSISTANT:", the greedy
// answer is compared with the reference after normalisation (exact match). Items are grouped by
// question type (data/synth.h's synth_question_type; "other" when the question is not synth's).
// Output: OUT/eval.json (overall and per-type accuracy, per-item records), OUT/eval_timing.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "infer/inference_options.h"

namespace privprobe {

struct EvalConfig {
  std::filesystem::path model;
  std::filesystem::path data;        // LLaVA JSON
  std::filesystem::path image_root;
  std::filesystem::path out;         // folder
  int batch_size = 8;
  int max_new_tokens = 8;
  std::size_t count = 0;             // first `count` items only (0: all)
  InferenceOptions inference;

  void validate() const;  // throws ConfigError
};

struct EvalResult {
  std::size_t items = 0;
  std::size_t correct = 0;
  double accuracy = 0;
};

EvalResult run_eval(const EvalConfig& config);

// Lower case (ASCII), punctuation removed, the articles a/an/the dropped, whitespace collapsed and
// trimmed: "The Red." -> "red", "a  blue-green circle" -> "bluegreen circle".
std::string normalize_vqa_answer(const std::string& answer);

// synth_question_type of the question (its <image> placeholder ignored), or "other".
std::string vqa_question_type(const std::string& question);

}  // namespace privprobe
