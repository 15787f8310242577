// The stage cache: keys, stamps, pending marks, --force matching.
#include <gtest/gtest.h>

#include "study/stage_cache.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;
using privprobe::StageAction;
using privprobe::StageCache;
using privprobe::test::TempDir;
using privprobe::test::write_text;

TEST(StageCache, KeysAreStableAndDependOnEverything) {
  const json settings = {{"steps", 10}, {"lr", 0.001}};
  const std::string key = privprobe::stage_key("train:r0.5-s0", settings, {"a", "b"});
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, privprobe::stage_key("train:r0.5-s0", {{"lr", 0.001}, {"steps", 10}}, {"a", "b"}));  // key order irrelevant
  EXPECT_NE(key, privprobe::stage_key("train:r0.5-s1", settings, {"a", "b"}));
  EXPECT_NE(key, privprobe::stage_key("train:r0.5-s0", {{"steps", 11}, {"lr", 0.001}}, {"a", "b"}));
  EXPECT_NE(key, privprobe::stage_key("train:r0.5-s0", settings, {"a", "c"}));
  EXPECT_NE(key, privprobe::stage_key("train:r0.5-s0", settings, {"b", "a"}));
  EXPECT_NE(key, privprobe::stage_key("train:r0.5-s0", settings, {"a"}));
}

TEST(StageCache, KindsAndForce) {
  EXPECT_EQ(privprobe::stage_kind("finetune:r0.5-s0"), "finetune");
  EXPECT_EQ(privprobe::stage_kind("synth"), "synth");
  EXPECT_TRUE(privprobe::force_matches({"finetune"}, "finetune:r0.5-s0"));
  EXPECT_TRUE(privprobe::force_matches({"finetune:r0.5-s0"}, "finetune:r0.5-s0"));
  EXPECT_TRUE(privprobe::force_matches({"all"}, "synth"));
  EXPECT_FALSE(privprobe::force_matches({"finetune:r0.5-s1"}, "finetune:r0.5-s0"));
  EXPECT_FALSE(privprobe::force_matches({"fine"}, "finetune:r0.5-s0"));
  EXPECT_FALSE(privprobe::force_matches({}, "synth"));
}

TEST(StageCache, SkipOnlyWithSameKeyAndAllOutputs) {
  TempDir dir("stage-cache");
  const StageCache cache(dir.path());
  const std::vector<std::string> outputs = {"data/a.json", "models/base"};
  EXPECT_EQ(cache.decide("split", "k1", outputs, false, false), StageAction::kRun);

  cache.mark_started("split", "k1");
  EXPECT_TRUE(fs::exists(cache.pending_path("split")));
  write_text(dir / "data" / "a.json", "{}");
  fs::create_directories(dir / "models" / "base");
  cache.mark_done({"split", "k1", outputs});
  EXPECT_FALSE(fs::exists(cache.pending_path("split")));
  EXPECT_EQ(cache.decide("split", "k1", outputs, false, false), StageAction::kSkip);
  EXPECT_EQ(cache.decide("split", "k2", outputs, false, false), StageAction::kRun);
  EXPECT_EQ(cache.decide("split", "k1", outputs, true, false), StageAction::kRun);  // --force
  const auto stamp = cache.read_stamp("split");
  ASSERT_TRUE(stamp);
  EXPECT_EQ(stamp->key, "k1");
  EXPECT_EQ(stamp->outputs, outputs);

  fs::remove_all(dir / "models");
  EXPECT_EQ(cache.decide("split", "k1", outputs, false, false), StageAction::kRun);  // an output went missing
}

TEST(StageCache, InterruptedStagesResumeOnlyWithTheSameKey) {
  TempDir dir("stage-cache");
  const StageCache cache(dir.path());
  cache.mark_started("finetune:r1-s0", "k1");
  EXPECT_EQ(cache.decide("finetune:r1-s0", "k1", {"models/r1-s0"}, false, true), StageAction::kResume);
  EXPECT_EQ(cache.decide("finetune:r1-s0", "k2", {"models/r1-s0"}, false, true), StageAction::kRun);
  EXPECT_EQ(cache.decide("finetune:r1-s0", "k1", {"models/r1-s0"}, false, false), StageAction::kRun);  // not resumable
  EXPECT_EQ(cache.decide("finetune:r1-s0", "k1", {"models/r1-s0"}, true, true), StageAction::kRun);   // forced
}

TEST(StageCache, BrokenStampMeansRerun) {
  TempDir dir("stage-cache");
  const StageCache cache(dir.path());
  write_text(cache.stamp_path("synth"), "{not json");
  write_text(dir / "data" / "album" / "x", "");
  EXPECT_FALSE(cache.read_stamp("synth"));
  EXPECT_EQ(cache.decide("synth", "k", {"data/album"}, false, false), StageAction::kRun);
  write_text(cache.stamp_path("synth"), R"({"stage": "profiles", "key": "k", "outputs": []})");  // another stage's
  EXPECT_FALSE(cache.read_stamp("synth"));
}

TEST(StageCache, ClearRemovesOutputsStampAndMark) {
  TempDir dir("stage-cache");
  const StageCache cache(dir.path());
  write_text(dir / "probe" / "base" / "profile" / "probe.json", "{}");
  write_text(dir / "keep.txt", "x");
  cache.mark_started("probe:base", "k");
  cache.mark_done({"probe:base", "k", {"probe/base"}});
  cache.clear("probe:base", {"probe/base"});
  EXPECT_FALSE(fs::exists(dir / "probe" / "base"));
  EXPECT_FALSE(fs::exists(cache.stamp_path("probe:base")));
  EXPECT_TRUE(fs::exists(dir / "keep.txt"));
}

TEST(StageCache, OutputsStayInsideTheStudy) {
  TempDir dir("stage-cache");
  EXPECT_THROW(privprobe::study_output_path(dir.path(), "../outside"), privprobe::ConfigError);
  EXPECT_THROW(privprobe::study_output_path(dir.path(), "/etc"), privprobe::ConfigError);
  EXPECT_THROW(privprobe::study_output_path(dir.path(), ""), privprobe::ConfigError);
  EXPECT_EQ(privprobe::study_output_path(dir.path(), "acts/base.json"), dir / "acts/base.json");
}
