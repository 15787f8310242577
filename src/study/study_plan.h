// What a study config asks for: the watermarked data sets, the models (base first, then every arm
// x seed in arm order) and the comparisons between their probes. Pure logic, no files.
//
// Arms, in this order: one per rate ("r0", "r0.5", "r1": rates ascending), then `control` (the
// positive control at arms.control_rate with the first arms.control_seeds seeds), `augment`,
// `wmbatch` and `lora` (each at arms.extra_rate when switched on). Model ids: "base" and
// "<arm>-s<seed>", seeds ascending.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "study/study_config.h"

namespace privprobe {

inline constexpr const char* kBaseModel = "base";
inline constexpr const char* kControlArm = "control";

// One embed output folder, data/embed/<id>: the fine-tuning rows watermarked at `rate`.
struct EmbedPlan {
  std::string id;  // "r0.5", or "control" (the same images as a rate arm at control_rate, plus username questions)
  double rate = 0;
  bool control = false;
};

struct ModelPlan {
  std::string id;    // "base", "r0.5-s0"
  std::string arm;   // "base", "r0.5", "control", "augment", "wmbatch", "lora"
  bool base = false;
  std::optional<double> rate;
  std::optional<std::uint64_t> seed;
  std::string embed;  // EmbedPlan id of its fine-tuning data
  bool augment = false;
  int wm_per_batch = 0;
  int lora_rank = 0;
};

struct ComparisonPlan {
  std::string name;    // "r0.5 vs base", "r0.5 vs r1"
  std::string folder;  // compare/<folder>: "r0.5-s0_vs_base"
  std::string base;    // model ids
  std::string tuned;
};

struct StudyPlan {
  std::vector<std::string> arms;  // arm order (without "base")
  std::vector<EmbedPlan> embeds;
  std::vector<ModelPlan> models;  // base first
  std::vector<ComparisonPlan> comparisons;

  const ModelPlan* find_model(const std::string& id) const;
  const EmbedPlan* find_embed(const std::string& id) const;
};

StudyPlan make_study_plan(const StudyConfig& config);

// "r0.5-s0"
std::string model_id(const std::string& arm, std::uint64_t seed);

// The partial rate arm the findings are about: r0.5 when present, else the first rate strictly
// between 0 and 1; empty when there is none.
std::string lead_partial_arm(const StudyConfig& config);

}  // namespace privprobe
