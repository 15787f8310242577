#include "study/study_plan.h"

#include <algorithm>
#include <functional>

namespace privprobe {

std::string model_id(const std::string& arm, std::uint64_t seed) { return arm + "-s" + std::to_string(seed); }

const ModelPlan* StudyPlan::find_model(const std::string& id) const {
  for (const auto& m : models) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

const EmbedPlan* StudyPlan::find_embed(const std::string& id) const {
  for (const auto& e : embeds) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

std::string lead_partial_arm(const StudyConfig& config) {
  std::vector<double> rates = config.study.rates;
  std::sort(rates.begin(), rates.end());
  for (double r : rates) {
    if (rate_arm_name(r) == "r0.5") return "r0.5";
  }
  for (double r : rates) {
    if (r > 0 && r < 1) return rate_arm_name(r);
  }
  return {};
}

StudyPlan make_study_plan(const StudyConfig& config) {
  StudyPlan plan;
  std::vector<double> rates = config.study.rates;
  std::sort(rates.begin(), rates.end());
  std::vector<std::uint64_t> seeds = config.study.seeds;
  std::sort(seeds.begin(), seeds.end());

  const auto add_rate_embed = [&](double rate) {
    const std::string id = rate_arm_name(rate);
    if (!plan.find_embed(id)) plan.embeds.push_back({id, rate, false});
    return id;
  };
  for (double r : rates) add_rate_embed(r);

  ModelPlan base;
  base.id = kBaseModel;
  base.arm = kBaseModel;
  base.base = true;
  plan.models.push_back(base);

  const auto add_arm = [&](const std::string& arm, const std::string& embed, std::optional<double> rate,
                           std::size_t seed_count, const std::function<void(ModelPlan&)>& adjust) {
    plan.arms.push_back(arm);
    for (std::size_t i = 0; i < seed_count && i < seeds.size(); ++i) {
      ModelPlan m;
      m.id = model_id(arm, seeds[i]);
      m.arm = arm;
      m.rate = rate;
      m.seed = seeds[i];
      m.embed = embed;
      if (adjust) adjust(m);
      plan.models.push_back(m);
    }
  };
  for (double r : rates) add_arm(rate_arm_name(r), rate_arm_name(r), r, seeds.size(), nullptr);
  if (config.arms.control) {
    plan.embeds.push_back({kControlArm, config.arms.control_rate, true});
    add_arm(kControlArm, kControlArm, config.arms.control_rate, static_cast<std::size_t>(config.arms.control_seeds), nullptr);
  }
  const bool extra = config.arms.augment || config.arms.wm_per_batch > 0 || config.arms.lora_rank > 0;
  const std::string extra_embed = extra ? add_rate_embed(config.arms.extra_rate) : std::string();
  const double extra_rate = config.arms.extra_rate;
  if (config.arms.augment) add_arm("augment", extra_embed, extra_rate, seeds.size(), [](ModelPlan& m) { m.augment = true; });
  if (config.arms.wm_per_batch > 0) {
    add_arm("wmbatch", extra_embed, extra_rate, seeds.size(), [&](ModelPlan& m) { m.wm_per_batch = config.arms.wm_per_batch; });
  }
  if (config.arms.lora_rank > 0) {
    add_arm("lora", extra_embed, extra_rate, seeds.size(), [&](ModelPlan& m) { m.lora_rank = config.arms.lora_rank; });
  }

  for (const ModelPlan& m : plan.models) {
    if (m.base) continue;
    plan.comparisons.push_back({m.arm + " vs base", m.id + "_vs_base", kBaseModel, m.id});
  }
  // Partial mini-batches against r = 1, seed by seed (same data order): the paper's contrast.
  for (const ModelPlan& m : plan.models) {
    if (m.base || !m.rate || m.arm != rate_arm_name(*m.rate) || !(*m.rate > 0 && *m.rate < 1)) continue;
    const std::string full = model_id(rate_arm_name(1.0), *m.seed);
    if (!plan.find_model(full)) continue;
    plan.comparisons.push_back({m.arm + " vs r1", m.id + "_vs_" + full, full, m.id});
  }
  return plan;
}

}  // namespace privprobe
