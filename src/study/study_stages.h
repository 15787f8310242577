// The study's stages: each names its settings (for the cache key), the stages it reads from, the
// outputs it writes (relative to the study folder) and how to run it. run_study walks the list in
// order. Paths given to the stages are absolute.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "study/study_config.h"
#include "study/study_plan.h"

namespace privprobe {

struct Stage {
  std::string name;                  // "train:r0.5-s0": kind ':' id
  nlohmann::json settings;           // what decides its outputs (enters the key)
  std::vector<std::string> inputs;   // names of the stages whose outputs it reads
  std::vector<std::string> outputs;  // files or folders, relative to the study folder
  double weight = 1;                 // expected cost in seconds on a 2-core machine (for the ETA)
  bool resumable = false;            // partial outputs of the same key can be continued
  std::function<void(bool resume)> run;
};

struct StudyContext {
  StudyConfig config;
  StudyPlan plan;
  std::filesystem::path folder;  // absolute
  bool progress = true;
  bool quick = false;  // recorded in results.json
};

std::vector<Stage> build_study_stages(const StudyContext& context);

// Paths of the study folder (docs/study-format.md).
std::filesystem::path study_checkpoint(const StudyContext& context, const ModelPlan& model);
std::string model_stage(const StudyContext& context, const ModelPlan& model);  // "" for a user's base checkpoint

}  // namespace privprobe
