// `privprobe study` on a user's own checkpoint and LLaVA JSON data (the real-study path, issue 7),
// end to end through the binary at --quick sizes: the checkpoint is the base (no pretraining, no
// synthetic album), every arm fine-tunes it on the user's rows, and the user's files are not touched.
#include <gtest/gtest.h>

#include <set>

#include "support/test_support.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;
using privprobe::test::run_privprobe;
using privprobe::test::TempDir;

TEST(StudyUserData, RunsOnAUsersCheckpointAndDatasetAndLeavesThemUntouched) {
  TempDir dir("study-user");
  const fs::path album = dir / "my_album", base = dir / "my_base";
  auto r = run_privprobe({"synth", "--out", album.string(), "--count", "60", "--size", "128", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_privprobe({"train", "--config", "tiny", "--data", (album / "train.json").string(), "--image-root",
                     album.string(), "--steps", "2", "--batch-size", "4", "--seed", "3", "--out", base.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path checkpoint = base / "checkpoint";
  const auto album_before = privprobe::test::hash_tree(album);
  const auto checkpoint_before = privprobe::test::hash_tree(checkpoint);

  // Relative paths are taken from the config's folder.
  privprobe::test::write_text(dir / "real.toml",
                              "[study]\nstyle = \"text\"\nseeds = [0]\n\n"
                              "[model]\ncheckpoint = \"my_base/checkpoint\"\n\n"
                              "[data]\nllava_json = \"my_album/train.json\"\nimage_root = \"my_album\"\n"
                              "heldout_json = \"my_album/test.json\"\n\n"
                              // The paper's recipe, scaled down: LoRA for every arm, a projector rate (and recomputed layers).
                              "[finetune]\nlora_rank = 4\nlora_alpha = 8.0\nprojector_lr = 2e-5\ngrad_accum = 2\n"
                              "gradient_checkpointing = true\n");
  const fs::path S = dir / "study";
  r = run_privprobe({"study", (dir / "real.toml").string(), "--quick", "--out", S.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("conclusion:"), std::string::npos) << r.output;

  // No pretraining and no synthetic album: the base is the user's checkpoint.
  for (const auto& entry : fs::directory_iterator(S / "stages")) {
    const std::string stage = entry.path().filename().string();
    EXPECT_NE(stage.rfind("pretrain", 0), 0u) << stage;
    EXPECT_NE(stage.rfind("album", 0), 0u) << stage;
  }
  EXPECT_FALSE(fs::exists(S / "models" / "base" / "checkpoint")) << "the base must not be copied or retrained";
  const json results = privprobe::read_json(S / "results.json");
  EXPECT_EQ(results["style"], "text");
  EXPECT_EQ(fs::path(results["config"]["model"]["checkpoint"].get<std::string>()).filename(), "checkpoint");
  ASSERT_GE(results["models"].size(), 2u);
  EXPECT_EQ(results["models"][0]["kind"], "base");
  std::set<std::string> kinds;
  for (const json& m : results["models"]) {
    kinds.insert(m["kind"].get<std::string>());
    EXPECT_TRUE(m["probe"].is_object()) << m["id"];
    EXPECT_TRUE(m["eval"].is_object()) << m["id"];
  }
  EXPECT_TRUE(kinds.count("finetune"));

  // Every arm trained with the [finetune] recipe: LoRA (merged on save), the projector's rate.
  for (const json& m : results["models"]) {
    if (m["kind"] != "finetune") continue;
    const json settings = privprobe::read_json(S / "models" / m["id"].get<std::string>() / "train_config.json")["settings"];
    EXPECT_EQ(settings["lora"]["rank"], 4) << m["id"];
    EXPECT_EQ(settings["lora"]["alpha"], 8.0) << m["id"];
    EXPECT_EQ(settings["projector_lr"], 2e-5) << m["id"];
    EXPECT_EQ(settings["grad_accum"], 2) << m["id"];
  }

  // Fine-tuning used the user's rows: every arm's data comes from my_album/train.json.
  const std::size_t user_rows = privprobe::read_json(album / "train.json").size();
  std::size_t arms = 0;
  for (const auto& entry : fs::directory_iterator(S / "data" / "embed")) {
    const fs::path train = entry.path() / "train.json";
    ASSERT_TRUE(fs::exists(train)) << train;
    EXPECT_EQ(privprobe::read_json(train).size(), user_rows) << train;
    ++arms;
  }
  EXPECT_GE(arms, 3u);
  // The probe set's bases are the held-out images, twice each (U1 and U2).
  EXPECT_EQ(privprobe::read_json(S / "probeset" / "probeset.json")["samples"].size(),
            2 * privprobe::read_json(album / "test.json").size());

  EXPECT_EQ(privprobe::test::hash_tree(album), album_before) << "the user's data changed";
  EXPECT_EQ(privprobe::test::hash_tree(checkpoint), checkpoint_before) << "the user's checkpoint changed";
}
