#include "probe/probe_config.h"

#include <cmath>
#include <set>

#include "util/error.h"

namespace privprobe {

ProbeSplit parse_probe_split(const std::string& name) {
  if (name == "kfold") return ProbeSplit::kKFold;
  if (name == "paper") return ProbeSplit::kPaper;
  throw ConfigError(error_message("--split", "unknown split '" + name + "'", "use kfold or paper"));
}

ProbeGroupBy parse_probe_group_by(const std::string& name) {
  if (name == "image") return ProbeGroupBy::kImage;
  if (name == "profile") return ProbeGroupBy::kProfile;
  throw ConfigError(error_message("--group-by", "unknown grouping '" + name + "'", "use image or profile"));
}

std::string probe_split_name(ProbeSplit split) { return split == ProbeSplit::kPaper ? "paper" : "kfold"; }

std::string probe_group_by_name(ProbeGroupBy group_by) {
  return group_by == ProbeGroupBy::kProfile ? "profile" : "image";
}

void ProbeConfig::validate() const {
  if (folds < 2 || folds > 1000) {
    throw ConfigError(error_message("--folds", "must be between 2 and 1000, got " + std::to_string(folds)));
  }
  if (repeats < 1 || repeats > 1000) {
    throw ConfigError(error_message("--repeats", "must be between 1 and 1000, got " + std::to_string(repeats)));
  }
  if (!(C > 0) || !std::isfinite(C)) {
    throw ConfigError(error_message("--C", "must be a positive finite number"));
  }
  if (bootstrap < 0 || bootstrap > 1'000'000) {
    throw ConfigError(error_message("--bootstrap", "must be between 0 and 1000000"));
  }
  if (permutations < 1 || permutations > 10'000'000) {
    throw ConfigError(error_message("--permutations", "must be between 1 and 10000000"));
  }
  if (!(tolerance > 0) || !(tolerance < 1)) {
    throw ConfigError(error_message("probe tolerance", "must be in (0, 1)"));
  }
  if (max_iterations < 1) throw ConfigError(error_message("probe max_iterations", "must be at least 1"));
  std::set<int> seen;
  for (int layer : layers) {
    if (layer < 0) throw ConfigError(error_message("--layers", "negative layer " + std::to_string(layer)));
    if (!seen.insert(layer).second) {
      throw ConfigError(error_message("--layers", "layer " + std::to_string(layer) + " given twice"));
    }
  }
}

nlohmann::json ProbeConfig::to_json() const {
  nlohmann::json j;
  j["split"] = probe_split_name(split);
  j["group_by"] = probe_group_by_name(group_by);
  j["C"] = C;
  j["seed"] = seed;
  j["control"] = control;
  j["bootstrap"] = bootstrap;
  if (split == ProbeSplit::kPaper) {
    j["test_fraction"] = kPaperTestFraction;
    j["split_seed"] = kPaperSplitSeed;
    j["standardize"] = false;
  } else {
    j["folds"] = folds;
    j["repeats"] = repeats;
    j["standardize"] = true;
  }
  j["layers"] = layers;
  j["tolerance"] = tolerance;
  j["max_iterations"] = max_iterations;
  return j;
}

}  // namespace privprobe
