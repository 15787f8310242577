// The study plan (models, arms, comparisons) and the stage list it gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "study/study.h"
#include "study/study_plan.h"
#include "support/test_support.h"

using privprobe::StudyConfig;
using privprobe::StudyPlan;

namespace {

std::vector<std::string> model_ids(const StudyPlan& plan) {
  std::vector<std::string> ids;
  for (const auto& m : plan.models) ids.push_back(m.id);
  return ids;
}

bool has_stage(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST(StudyPlan, DefaultArmsModelsAndComparisons) {
  StudyConfig c = privprobe::default_study_config(false);
  c.study.seeds = {1, 0};  // sorted in the plan
  c.study.rates = {1.0, 0.0, 0.5};
  const StudyPlan plan = privprobe::make_study_plan(c);
  EXPECT_EQ(plan.arms, (std::vector<std::string>{"r0", "r0.5", "r1", "control"}));
  EXPECT_EQ(model_ids(plan), (std::vector<std::string>{"base", "r0-s0", "r0-s1", "r0.5-s0", "r0.5-s1", "r1-s0", "r1-s1",
                                                        "control-s0"}));
  ASSERT_EQ(plan.embeds.size(), 4u);
  EXPECT_EQ(plan.embeds[3].id, "control");
  EXPECT_TRUE(plan.embeds[3].control);
  EXPECT_DOUBLE_EQ(plan.embeds[3].rate, 0.5);
  EXPECT_EQ(plan.find_model("control-s0")->embed, "control");

  std::set<std::string> folders;
  for (const auto& cmp : plan.comparisons) EXPECT_TRUE(folders.insert(cmp.folder).second) << cmp.folder;
  EXPECT_TRUE(folders.count("r0.5-s0_vs_base"));
  EXPECT_TRUE(folders.count("r0-s1_vs_base"));
  EXPECT_TRUE(folders.count("control-s0_vs_base"));
  EXPECT_TRUE(folders.count("r0.5-s1_vs_r1-s1"));
  EXPECT_FALSE(folders.count("r0.5-s0_vs_r1-s1"));  // only seed with seed
  const auto vs_r1 = std::find_if(plan.comparisons.begin(), plan.comparisons.end(),
                                  [](const auto& cmp) { return cmp.folder == "r0.5-s0_vs_r1-s0"; });
  ASSERT_NE(vs_r1, plan.comparisons.end());
  EXPECT_EQ(vs_r1->name, "r0.5 vs r1");
  EXPECT_EQ(vs_r1->base, "r1-s0");
  EXPECT_EQ(vs_r1->tuned, "r0.5-s0");
  EXPECT_EQ(privprobe::lead_partial_arm(c), "r0.5");
}

TEST(StudyPlan, OptionalArmsShareTheExtraRateData) {
  StudyConfig c = privprobe::default_study_config(false);
  c.study.seeds = {3};
  c.arms.control = false;
  c.arms.augment = true;
  c.arms.lora_rank = 4;
  c.arms.wm_per_batch = 2;
  c.arms.extra_rate = 0.25;
  const StudyPlan plan = privprobe::make_study_plan(c);
  EXPECT_EQ(plan.arms, (std::vector<std::string>{"r0", "r0.5", "r1", "augment", "wmbatch", "lora"}));
  ASSERT_TRUE(plan.find_embed("r0.25"));
  EXPECT_FALSE(plan.find_embed("control"));
  EXPECT_TRUE(plan.find_model("augment-s3")->augment);
  EXPECT_EQ(plan.find_model("wmbatch-s3")->wm_per_batch, 2);
  EXPECT_EQ(plan.find_model("lora-s3")->lora_rank, 4);
  EXPECT_EQ(plan.find_model("lora-s3")->embed, "r0.25");
  EXPECT_DOUBLE_EQ(*plan.find_model("lora-s3")->rate, 0.25);
}

TEST(StudyPlan, ControlSeedsAndLeadArm) {
  StudyConfig c = privprobe::default_study_config(false);
  c.study.seeds = {0, 1, 2};
  c.arms.control_seeds = 2;
  c.study.rates = {0.0, 0.3, 1.0};
  const StudyPlan plan = privprobe::make_study_plan(c);
  EXPECT_TRUE(plan.find_model("control-s1"));
  EXPECT_FALSE(plan.find_model("control-s2"));
  EXPECT_EQ(privprobe::lead_partial_arm(c), "r0.3");
  c.study.rates = {0.0, 1.0};
  EXPECT_EQ(privprobe::lead_partial_arm(c), "");
}

TEST(StudyPlan, StageNamesAreUniqueAndOrdered) {
  const StudyConfig c = privprobe::default_study_config(false);
  const auto names = privprobe::study_stage_names(c, "/tmp/privprobe-plan-test");
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  for (const char* name : {"synth", "split", "profiles", "embed:r0", "embed:r0.5", "embed:r1", "embed:control", "pretrain",
                           "probeset", "extract:base", "probe:base", "perception", "probeset:u0", "naming", "ask:base", "eval:base",
                           "finetune:r0.5-s1", "extract:r0.5-s1", "compare:r0.5-s1_vs_base", "compare:r0.5-s1_vs_r1-s1",
                           "ask:control-s0", "results"}) {
    EXPECT_TRUE(has_stage(names, name)) << name;
  }
  const auto at = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  EXPECT_LT(at("synth"), at("split"));
  EXPECT_LT(at("pretrain"), at("finetune:r0-s0"));
  EXPECT_LT(at("probeset:u0"), at("naming"));
  EXPECT_LT(at("pretrain"), at("naming"));
  EXPECT_LT(at("finetune:r0.5-s0"), at("extract:r0.5-s0"));
  EXPECT_LT(at("extract:r1-s0"), at("compare:r0.5-s0_vs_r1-s0"));
  EXPECT_EQ(names.back() == "report" ? names[names.size() - 2] : names.back(), "results");
}

TEST(StudyPlan, AUsersCheckpointSkipsPretraining) {
  privprobe::test::TempDir dir("study-plan");
  privprobe::test::write_text(dir / "llava" / "config.json", "{}");
  StudyConfig c = privprobe::default_study_config(false);
  c.model.checkpoint = (dir / "llava").string();
  const auto names = privprobe::study_stage_names(c, "/tmp/privprobe-plan-test");
  EXPECT_FALSE(has_stage(names, "pretrain"));
  EXPECT_FALSE(has_stage(names, "naming"));  // no pretraining, so no perception task to check
  EXPECT_TRUE(has_stage(names, "finetune:r0-s0"));
  EXPECT_TRUE(has_stage(names, "extract:base"));
}
