// `privprobe study --quick` end to end through the binary: every stage's outputs exist and agree
// with each other (not the scientific result); a second run gives the same bytes except the
// timing files; a rerun skips every stage; --force reruns one.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "io/safetensors.h"
#include "study/results_builder.h"
#include "study/study_config.h"
#include "study/study_plan.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/json_io.h"

#ifdef PRIVPROBE_STUDY_WRITES_REPORT
#include "report/study_results.h"
#endif

namespace fs = std::filesystem;
using nlohmann::json;
using privprobe::test::run_privprobe;
using privprobe::test::TempDir;

namespace {

bool is_timing_file(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  const auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return name == "timing.json" || name == "train_timing.jsonl" || ends("_timing.json") || ends(".timing.json");
}

std::map<std::string, std::string> hashes_without_timing(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& [path, hash] : privprobe::test::hash_tree(dir)) {
    if (!is_timing_file(path)) out[path] = hash;
  }
  return out;
}

std::size_t count_lines(const fs::path& file) {
  std::size_t n = 0;
  privprobe::for_each_jsonl(file, [&](std::size_t, const json&) { ++n; });
  return n;
}

// The agreement checks on one finished quick study.
void check_study_folder(const fs::path& S) {
  const privprobe::StudyConfig config = privprobe::default_study_config(true);
  const privprobe::StudyPlan plan = privprobe::make_study_plan(config);
  const json results = privprobe::read_json(S / "results.json");
  EXPECT_EQ(results["format_version"], 1);
  EXPECT_TRUE(results["quick"].get<bool>());
  EXPECT_EQ(results["style"], "identicon");

  // Inputs: album split, profiles, probe set.
  const auto rows = [&](const char* file) { return privprobe::read_json(S / "data" / file).size(); };
  EXPECT_EQ(rows("pretrain.json"), static_cast<std::size_t>(config.album.pretrain));
  EXPECT_EQ(rows("finetune.json"), static_cast<std::size_t>(config.album.finetune));
  EXPECT_EQ(rows("heldout.json"), static_cast<std::size_t>(config.album.heldout));
  EXPECT_GT(privprobe::read_json(S / "data" / "embed_pretrain" / "questions.json")["asked_rows"].get<int>(), 0);
  for (const char* set : {"u1", "u2", "u0"}) {
    EXPECT_EQ(count_lines(S / "data" / "profiles" / (std::string(set) + ".jsonl")), static_cast<std::size_t>(config.profiles.count));
  }
  const std::size_t samples = 2 * static_cast<std::size_t>(config.album.heldout);
  EXPECT_EQ(privprobe::read_json(S / "probeset" / "probeset.json")["samples"].size(), samples);

  // The lead folds hold out whole profiles and keep the two twins of an image together.
  const json probeset = privprobe::read_json(S / "probeset" / "probeset.json");
  const json folds = privprobe::read_json(S / "probe" / "profile_folds.json");
  for (const json& repeat : folds["repeats"]) {
    for (const json& fold : repeat["folds"]) {
      std::set<std::int64_t> test(fold["test"].begin(), fold["test"].end());
      std::set<std::int64_t> test_groups, test_profiles;
      for (auto i : test) {
        test_groups.insert(probeset["samples"][i]["group"].get<std::int64_t>());
        test_profiles.insert(probeset["samples"][i]["profile_index"].get<std::int64_t>());
      }
      for (std::size_t i = 0; i < probeset["samples"].size(); ++i) {
        if (test.count(static_cast<std::int64_t>(i))) continue;
        EXPECT_FALSE(test_groups.count(probeset["samples"][i]["group"].get<std::int64_t>())) << "an image on both sides";
        EXPECT_FALSE(test_profiles.count(probeset["samples"][i]["profile_index"].get<std::int64_t>())) << "a profile on both sides";
      }
    }
  }

  // Models: ids match the folders and every stage's outputs exist and agree.
  ASSERT_EQ(results["models"].size(), plan.models.size());
  std::set<std::string> model_dirs;
  for (const auto& entry : fs::directory_iterator(S / "models")) model_dirs.insert(entry.path().filename().string());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < plan.models.size(); ++i) {
    const json& m = results["models"][i];
    const std::string id = m["id"];
    SCOPED_TRACE(id);
    EXPECT_EQ(id, plan.models[i].id);
    ids.insert(id);
    EXPECT_TRUE(fs::exists(S / "models" / id / "checkpoint" / "model.safetensors"));
    EXPECT_EQ(m["train"]["steps"], i == 0 ? config.pretrain.steps : config.finetune.steps);
    EXPECT_EQ(count_lines(S / "models" / id / "train_log.jsonl"), static_cast<std::size_t>(m["train"]["steps"].get<long long>()));
    EXPECT_TRUE(m["train"]["final_loss"].is_number());
    if (i > 0) {
      EXPECT_TRUE(fs::exists(S / "models" / id / "dynamics.jsonl"));
    }

    const privprobe::SafetensorsFile acts(S / "acts" / (id + ".safetensors"));
    const auto& shape = acts.at("states").shape;
    ASSERT_EQ(shape.size(), 3u);
    EXPECT_EQ(static_cast<std::size_t>(shape[0]), samples);
    for (const char* group_by : {"profile", "image"}) {
      const json probe = privprobe::read_json(S / "probe" / id / group_by / "probe.json");
      EXPECT_EQ(probe["layers"].size(), static_cast<std::size_t>(shape[1])) << group_by;
      EXPECT_EQ(m["probe"][group_by]["layers"].size(), static_cast<std::size_t>(shape[1]));
      const double accuracy = m["probe"][group_by]["accuracy"];
      EXPECT_GE(accuracy, 0.0);
      EXPECT_LE(accuracy, 1.0);
    }
    // Every fine-tuned model is probed on the base's folds.
    EXPECT_EQ(privprobe::read_json(S / "probe" / id / "profile" / "folds.json")["repeats"], folds["repeats"]);
    EXPECT_EQ(privprobe::read_json(S / "ask" / id / "ask.json")["samples_total"], samples);
    EXPECT_EQ(m["eval"]["items"], config.eval.count);
    EXPECT_TRUE(m["ask"]["calibrated_accuracy"].is_number());

    if (i == 0) {
      EXPECT_TRUE(m["rate"].is_null());
      EXPECT_TRUE(m["vs_base"].is_null());
      continue;
    }
    EXPECT_TRUE(m["vs_base"]["difference"].is_number());
    const double rate = m["rate"], realized = m["realized_rate"];
    if (rate == 0.0 || rate == 1.0) {
      EXPECT_EQ(realized, rate);
    } else {  // binomial: 60 images, 4 standard deviations
      EXPECT_NEAR(realized, rate, 4 * std::sqrt(rate * (1 - rate) / static_cast<double>(config.album.finetune)));
    }
  }
  std::set<std::string> expected_dirs = ids;
  EXPECT_EQ(model_dirs, expected_dirs);

  // The positive control's data asks some watermarked images for the username.
  const json control = privprobe::read_json(S / "data" / "embed" / "control" / "questions.json");
  EXPECT_GT(control["asked_rows"].get<int>(), 0);
  EXPECT_EQ(control["asked_rows"], std::llround(config.arms.control_share * control["watermarked_rows"].get<double>()));
  EXPECT_EQ(results["models"].back()["control_questions"], control["asked_rows"]);

  // Comparisons: the ones the contract promises, each backed by a compare.json of every layer.
  std::set<std::string> names;
  for (const json& c : results["comparisons"]) {
    names.insert(c["name"].get<std::string>());
    const std::string folder = c["tuned"].get<std::string>() + "_vs_" + c["base"].get<std::string>();
    EXPECT_EQ(privprobe::read_json(S / "compare" / folder / "compare.json")["layers"].size(), c["layers"].size());
    EXPECT_TRUE(c["significant"].is_boolean());
  }
  for (const char* name : {"r0.5 vs base", "r0.5 vs r1", "r0 vs base", "control vs base"}) EXPECT_TRUE(names.count(name)) << name;

  EXPECT_TRUE(results["perception"]["accuracy"].is_number());
  // The base's naming task on new images: its ask over the U0 probe set, seen = U0.
  const json naming = privprobe::read_json(S / "ask" / "base.u0" / "ask.json");
  EXPECT_EQ(results["perception"]["naming"]["accuracy"], naming["generation"]["contains_rate_seen"]);
  EXPECT_EQ(results["perception"]["naming"]["chance"], 1.0 / static_cast<double>(config.profiles.count));
  EXPECT_EQ(privprobe::read_json(S / "probeset_u0" / "probeset.json")["samples"].size(),
            privprobe::read_json(S / "probeset" / "probeset.json")["samples"].size());
  EXPECT_TRUE(fs::exists(S / "acts" / "base.vision.safetensors"));
  EXPECT_TRUE(results["positive_control"]["present"].get<bool>());
  // The control's output-level record is its own ask.json, and `revealed` follows the criterion.
  const json& output_level = results["positive_control"]["output_level"];
  ASSERT_TRUE(output_level.is_object());
  for (const json& m : results["models"]) {
    if (m["id"] != output_level["model"]) continue;
    EXPECT_EQ(output_level["calibrated_membership"], m["ask"]["calibrated_accuracy"]);
    EXPECT_EQ(output_level["revealed"].get<bool>(),
              output_level["calibrated_membership"].get<double>() - 0.5 > privprobe::kChanceMargin);
  }
  EXPECT_EQ(output_level["model"], results["positive_control"]["model"]);
  const std::string conclusion = results["findings"]["conclusion"];
  EXPECT_TRUE(conclusion == "negative" || conclusion == "positive" || conclusion == "inconclusive") << conclusion;
  EXPECT_EQ(results["arms"].size(), plan.arms.size());
  EXPECT_TRUE(fs::exists(S / "study.toml"));
  EXPECT_TRUE(fs::exists(S / "timing.json"));

#ifdef PRIVPROBE_STUDY_WRITES_REPORT
  EXPECT_NO_THROW(privprobe::load_study_results(S));  // the report's reader accepts the contract
  EXPECT_TRUE(fs::exists(S / "report.html"));
#endif
}

}  // namespace

TEST(StudyEndToEnd, QuickStudyIsCompleteReproducibleAndCached) {
  TempDir dir("study-e2e");
  const fs::path S = dir / "study";
  const auto first = run_privprobe({"study", "--quick", "--out", S.string()});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("conclusion:"), std::string::npos) << first.output;
  {
    SCOPED_TRACE("first run");
    check_study_folder(S);
  }
  const auto stamps = [&] {
    std::size_t n = 0;
    for (const auto& entry : fs::directory_iterator(S / "stages")) n += entry.path().extension() == ".json" ? 1 : 0;
    return n;
  };
  const std::size_t stage_count = stamps();
  EXPECT_GT(stage_count, 20u);

  // A second run (in the same place, so paths recorded by the stages agree) gives the same bytes.
  fs::rename(S, dir / "first");
  const auto second = run_privprobe({"study", "--quick", "--out", S.string()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const auto a = hashes_without_timing(dir / "first"), b = hashes_without_timing(S);
  for (const auto& [path, hash] : a) {
    const auto it = b.find(path);
    if (it == b.end()) {
      ADD_FAILURE() << path << " is missing from the second run";
    } else {
      EXPECT_EQ(hash, it->second) << path << " differs between two runs";
    }
  }
  EXPECT_EQ(a.size(), b.size());

  // A rerun skips every stage; --force reruns the one named and what reads it, with the same bytes:
  // finetune, extract, probe, compare (vs base and vs r1), ask, eval of r0.5-s0, results, report.
  const auto cached = run_privprobe({"study", "--quick", "--out", S.string()});
  ASSERT_EQ(cached.exit_code, 0) << cached.output;
  EXPECT_NE(cached.output.find("0 stage(s) run, " + std::to_string(stage_count) + " cached"), std::string::npos) << cached.output;
  const auto forced = run_privprobe({"study", "--quick", "--out", S.string(), "--force", "finetune:r0.5-s0"});
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
#ifdef PRIVPROBE_STUDY_WRITES_REPORT
  const std::string forced_stages = "9 stage(s) run";
#else
  const std::string forced_stages = "8 stage(s) run";
#endif
  EXPECT_NE(forced.output.find(forced_stages), std::string::npos) << forced.output;
  EXPECT_NE(forced.output.find("finetune r0.5-s0 done"), std::string::npos) << forced.output;
  EXPECT_NE(forced.output.find("extract r0-s0: cached"), std::string::npos) << forced.output;
  EXPECT_EQ(hashes_without_timing(S), b);
}

TEST(StudyEndToEnd, BadConfigAndForceFailBeforeAnyWork) {
  TempDir dir("study-e2e");
  privprobe::test::write_text(dir / "bad.toml", "[finetune]\nsteps = \"ten\"\n");
  auto r = run_privprobe({"study", (dir / "bad.toml").string(), "--out", (dir / "s").string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("finetune.steps"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "s"));

  r = run_privprobe({"study", "--quick", "--out", (dir / "s").string(), "--force", "training"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("training"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "s"));

  privprobe::test::write_text(dir / "busy" / "notes.txt", "mine");
  r = run_privprobe({"study", "--quick", "--out", (dir / "busy").string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("holds no study"), std::string::npos) << r.output;

  r = run_privprobe({"study", "--print-config", "--quick"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pretrain = 120"), std::string::npos) << r.output;
}

// The reading preset on --quick sizes: text watermarks, the per-patch character labels of the U0
// text, and a base with a convolutional stem all flow through every stage. An unknown preset is
// refused before anything is written.
TEST(StudyEndToEnd, QuickReadingPresetDrawsTextLabelsCharactersAndGrowsAStem) {
  TempDir dir("study-e2e");
  const fs::path S = dir / "reading";
  const auto r = run_privprobe({"study", "--quick", "--preset", "reading", "--out", S.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("glyph by glyph"), std::string::npos) << r.output;
  const json results = privprobe::read_json(S / "results.json");
  EXPECT_EQ(results["style"], "text");
  EXPECT_EQ(results["config"]["model"]["config"], "tiny-reading");

  const json objects = privprobe::read_json(S / "data" / "embed_pretrain" / "objects.json");
  std::size_t characters = 0;
  for (const json& color : objects["colors"]) characters += color.get<std::string>().rfind("char:", 0) == 0 ? 1 : 0;
  EXPECT_GT(characters, 5u);
  const json base = privprobe::read_json(S / "models" / "base" / "checkpoint" / "config.json");
  EXPECT_EQ(base["privprobe"]["vision_conv_stem"], json({32, 64}));
  const json train = privprobe::read_json(S / "models" / "base" / "train_config.json");
  EXPECT_EQ(train["resolved"]["aux_classes"].size(), 1 + objects["shapes"].size() * objects["colors"].size());
  // The probe set draws the username alone, at the top left.
  const json probeset = privprobe::read_json(S / "probeset" / "probeset.json");
  EXPECT_EQ(probeset["watermark"]["field_names"], false);
  EXPECT_EQ(probeset["watermark"]["placement"], "top-left");

  const auto bad = run_privprobe({"study", "--quick", "--preset", "writing", "--out", (dir / "s").string()});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("writing"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "s"));
}
