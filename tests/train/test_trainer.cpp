// End-to-end runs of the trainer on a tiny model: learning, bit-identical resume, divergence,
// fine-tuning, text-only rows, fixed watermark counts, and refusals.
#include <gtest/gtest.h>

#include "model/checkpoint.h"
#include "support/test_support.h"
#include "text/spm_train.h"
#include "train/train_state.h"
#include "train/trainer.h"
#include "train_fixtures.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::vector<json> log_rows(const fs::path& run) {
  std::vector<json> rows;
  for (const auto& line : test::read_lines(run / "train_log.jsonl")) rows.push_back(json::parse(line));
  return rows;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct TrainerTest : ::testing::Test {
  test::TempDir dir{"trainer"};
  test::TinyAlbum album = test::write_tiny_album(dir.path());
};

TEST_F(TrainerTest, LossFallsWhenOverfittingAFewSamples) {
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.steps = 40;
  const TrainResult result = run_train(c);
  EXPECT_EQ(result.total_steps, 40);
  EXPECT_EQ(result.steps_run, 40);
  const auto rows = log_rows(c.out);
  ASSERT_EQ(rows.size(), 40u);
  EXPECT_EQ(rows.front()["step"], 1);
  EXPECT_EQ(rows.back()["step"], 40);
  const double first = rows.front()["loss"], last = rows.back()["loss"];
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
  EXPECT_TRUE(rows.front()["aux_loss"].is_null());
  EXPECT_EQ(rows.front()["rows"], 4);
  EXPECT_EQ(test::read_lines(c.out / "train_timing.jsonl").size(), 40u);
  EXPECT_FALSE(fs::exists(c.out / "dynamics.jsonl"));

  const json record = read_json(c.out / "train_config.json");
  EXPECT_EQ(record["format_version"], kFormatVersion);
  EXPECT_EQ(record["resolved"]["total_steps"], 40);
  EXPECT_EQ(record["resolved"]["steps_per_epoch"], 2);

  const LoadedCheckpoint ck = load_checkpoint(result.checkpoint);
  EXPECT_EQ(ck.provenance["seed"], 0);
  EXPECT_EQ(ck.provenance["steps"], 40);
  EXPECT_EQ(ck.provenance["mode"], "pretrain");
  EXPECT_EQ(ck.config.text.vocab_size, SentencePieceTokenizer::load(album.tokenizer).vocab_size());
}

TEST_F(TrainerTest, ResumeReachesBitIdenticalWeights) {
  TrainConfig c = test::tiny_train_config(album, dir / "whole");
  c.steps = 6;
  c.save_every = 2;
  c.grad_accum = 2;
  c.batch_size = 2;
  c.warmup_ratio = 0.3;
  c.augment = true;
  c.aux_objects = album.objects;
  c.clip = 0.5;
  run_train(c);

  TrainConfig halted = c;
  halted.out = dir / "resumed";
  halted.halt_after = 5;  // killed after step 5: the state on disk is step 4's
  const TrainResult first = run_train(halted);
  EXPECT_TRUE(first.checkpoint.empty());
  EXPECT_EQ(log_rows(halted.out).size(), 5u);
  ASSERT_TRUE(find_train_state(halted.out).has_value());
  EXPECT_EQ(find_train_state(halted.out)->step, 4);

  TrainConfig resumed = halted;
  resumed.halt_after = 0;
  resumed.resume = true;
  const TrainResult second = run_train(resumed);
  EXPECT_EQ(second.start_step, 4);
  EXPECT_EQ(second.steps_run, 2);
  EXPECT_EQ(test::read_bytes(c.out / "checkpoint/model.safetensors"), test::read_bytes(resumed.out / "checkpoint/model.safetensors"));
  EXPECT_EQ(test::hash_tree(c.out / "checkpoint"), test::hash_tree(resumed.out / "checkpoint"));
  EXPECT_EQ(test::read_bytes(c.out / "train_log.jsonl"), test::read_bytes(resumed.out / "train_log.jsonl"));
  EXPECT_EQ(test::hash_tree(c.out / "state"), test::hash_tree(resumed.out / "state"));
  EXPECT_FALSE(log_rows(c.out).front()["aux_loss"].is_null());

  // A finished run resumes to nothing; a different setting is refused.
  EXPECT_TRUE(run_train(resumed).already_complete);
  TrainConfig changed = resumed;
  changed.lr = 1e-2;
  EXPECT_THROW(run_train(changed), ConfigError);
  TrainConfig again = c;
  EXPECT_THROW(run_train(again), ConfigError);  // existing run without --resume
}

TEST_F(TrainerTest, SameSeedSameBytesOtherSeedOtherRun) {
  TrainConfig a = test::tiny_train_config(album, dir / "a");
  a.augment = true;
  TrainConfig b = a;
  b.out = dir / "b";
  TrainConfig other = a;
  other.out = dir / "other";
  other.seed = 5;
  run_train(a);
  run_train(b);
  run_train(other);
  EXPECT_EQ(test::read_bytes(a.out / "train_log.jsonl"), test::read_bytes(b.out / "train_log.jsonl"));
  EXPECT_EQ(test::hash_tree(a.out / "checkpoint"), test::hash_tree(b.out / "checkpoint"));
  EXPECT_NE(test::read_bytes(a.out / "train_log.jsonl"), test::read_bytes(other.out / "train_log.jsonl"));
}

TEST_F(TrainerTest, DivergenceStopsAndKeepsTheLastGoodState) {
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.lr = 1e30;
  c.clip = 0;
  c.save_every = 1;
  c.steps = 6;
  try {
    run_train(c);
    FAIL() << "a run at lr 1e30 did not stop";
  } catch (const TrainingDivergedError& e) {
    EXPECT_TRUE(contains(e.what(), "step ")) << e.what();
    EXPECT_TRUE(contains(e.what(), "last good state")) << e.what();
    EXPECT_EQ(e.exit_code(), 6);
  }
  EXPECT_FALSE(fs::exists(c.out / "checkpoint"));
  const auto state = find_train_state(c.out);
  ASSERT_TRUE(state.has_value());
  EXPECT_GE(state->step, 1);
  LoadedCheckpoint good = load_checkpoint(c.out / "state/checkpoint");
  EXPECT_TRUE(all_finite(*good.model));
}

TEST_F(TrainerTest, PoisonedWeightStopsBeforeAnyState) {
  TrainConfig base = test::tiny_train_config(album, dir / "base");
  base.steps = 1;
  run_train(base);
  LoadedCheckpoint ck = load_checkpoint(base.out / "checkpoint");
  {
    torch::NoGradGuard no_grad;
    ck.model->named_parameters()["language_model.model.norm.weight"].fill_(std::nan(""));
  }
  save_checkpoint(dir / "poisoned", ck.model, ck.config, base.out / "checkpoint/tokenizer.model", ck.tokenizer,
                  ck.image_processor, ck.provenance);
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.model_config.clear();
  c.tokenizer.clear();
  c.init = dir / "poisoned";
  try {
    run_train(c);
    FAIL();
  } catch (const TrainingDivergedError& e) {
    EXPECT_TRUE(contains(e.what(), "step 1: the loss is nan;")) << e.what();
    EXPECT_TRUE(contains(e.what(), "no state was saved")) << e.what();
  }
  EXPECT_FALSE(find_train_state(c.out).has_value());
}

TEST_F(TrainerTest, FineTuningFreezesTheVisionTowerByDefault) {
  TrainConfig base = test::tiny_train_config(album, dir / "base");
  base.steps = 2;
  run_train(base);
  TrainConfig c = test::tiny_train_config(album, dir / "tuned");
  c.model_config.clear();
  c.tokenizer.clear();
  c.init = base.out / "checkpoint";
  c.steps = 3;
  run_train(c);
  const auto before = load_checkpoint(base.out / "checkpoint").model->named_parameters();
  const auto after = load_checkpoint(c.out / "checkpoint").model->named_parameters();
  int vision = 0, changed = 0;
  for (const auto& item : before) {
    const bool same = torch::equal(item.value(), after[item.key()]);
    if (item.key().rfind("vision_tower.", 0) == 0) {
      ++vision;
      EXPECT_TRUE(same) << item.key();
    } else {
      changed += same ? 0 : 1;
    }
  }
  EXPECT_GT(vision, 0);
  EXPECT_GT(changed, 0);
  const json record = read_json(c.out / "train_config.json");
  EXPECT_EQ(record["resolved"]["frozen"], json::array({"vision_tower"}));
  EXPECT_EQ(load_checkpoint(c.out / "checkpoint").provenance["mode"], "finetune");
  EXPECT_DOUBLE_EQ(record["resolved"]["lr"].get<double>(), 3e-3);

  TrainConfig all = c;
  all.out = dir / "all";
  all.freeze = std::vector<std::string>{};  // --freeze none
  all.steps = 1;
  run_train(all);
  const auto unfrozen = load_checkpoint(all.out / "checkpoint").model->named_parameters();
  EXPECT_FALSE(torch::equal(before["vision_tower.vision_model.embeddings.patch_embedding.weight"],
                            unfrozen["vision_tower.vision_model.embeddings.patch_embedding.weight"]));
}

TEST_F(TrainerTest, NotACheckpointIsAClearError) {
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.model_config.clear();
  c.tokenizer.clear();
  c.init = album.root;  // a folder, but no checkpoint
  try {
    run_train(c);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "is not a checkpoint")) << e.what();
  }
}

TEST_F(TrainerTest, TextOnlyRowsTrain) {
  test::TempDir text_dir("trainer-text");
  const auto text = test::write_tiny_album(text_dir.path(), test::AlbumOptions{0, 4});
  TrainConfig c = test::tiny_train_config(text, text_dir / "run");
  c.steps = 3;
  const TrainResult result = run_train(c);
  EXPECT_EQ(result.rows, 4u);
  EXPECT_EQ(log_rows(c.out).size(), 3u);

  const auto mixed = test::write_tiny_album(text_dir / "mixed", test::AlbumOptions{4, 4});
  TrainConfig m = test::tiny_train_config(mixed, text_dir / "mixed-run");
  m.aux_objects = mixed.objects;
  m.batch_size = 2;
  EXPECT_NO_THROW(run_train(m));
}

TEST_F(TrainerTest, EveryBatchHoldsTheRequestedWatermarks) {
  const auto embedded = test::write_embedded_album(dir / "embedded", album, {0, 2, 5});
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.data = embedded.data;
  c.image_root = embedded.image_root;
  c.wm_per_batch = 1;
  c.steps = 5;
  run_train(c);
  for (const auto& row : log_rows(c.out)) EXPECT_EQ(row["watermarked"], 1) << row.dump();
  const json record = read_json(c.out / "train_config.json");
  EXPECT_EQ(record["resolved"]["watermarked_rows"], 3);

  TrainConfig too_many = c;
  too_many.out = dir / "too-many";
  too_many.wm_per_batch = 4;  // 3 watermarked rows cannot fill a batch
  EXPECT_THROW(run_train(too_many), DataError);
  TrainConfig no_manifest = c;
  no_manifest.out = dir / "no-manifest";
  no_manifest.data = album.data;
  no_manifest.image_root = album.root;
  EXPECT_THROW(run_train(no_manifest), ConfigError);
}

TEST_F(TrainerTest, DynamicsAndLoraAdapter) {
  TrainConfig base = test::tiny_train_config(album, dir / "base");
  base.steps = 2;
  run_train(base);
  const auto embedded = test::write_embedded_album(dir / "embedded", album, {0, 2, 5});
  TrainConfig c = test::tiny_train_config(album, dir / "lora");
  c.model_config.clear();
  c.tokenizer.clear();
  c.init = base.out / "checkpoint";
  c.data = embedded.data;
  c.image_root = embedded.image_root;
  c.wm_per_batch = 1;
  c.steps = 4;
  c.dynamics_every = 2;
  c.lora.rank = 2;
  c.lora.dropout = 0;
  c.lora_save = "adapter";
  run_train(c);
  const auto lines = test::read_lines(c.out / "dynamics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["step"], 1);
  EXPECT_EQ(json::parse(lines[1])["step"], 3);
  EXPECT_TRUE(fs::exists(c.out / "checkpoint/adapter_config.json"));
  EXPECT_TRUE(fs::exists(c.out / "checkpoint/adapter_model.safetensors"));
  EXPECT_FALSE(read_json(c.out / "train_config.json")["resolved"]["lora_modules"].empty());
}

TEST_F(TrainerTest, TrainsItsOwnTokenizerWhenNoneIsGiven) {
  if (!spm_train_available()) GTEST_SKIP() << "spm_train not installed";
  TrainConfig c = test::tiny_train_config(album, dir / "run");
  c.tokenizer.clear();
  c.steps = 1;
  run_train(c);
  ASSERT_TRUE(fs::exists(c.out / "tokenizer.model"));
  const auto tokenizer = SentencePieceTokenizer::load(c.out / "tokenizer.model");
  const LoadedCheckpoint ck = load_checkpoint(c.out / "checkpoint");
  EXPECT_EQ(ck.config.text.vocab_size, tokenizer.vocab_size());
  EXPECT_LE(ck.config.text.vocab_size, 512);
  EXPECT_EQ(ck.config.image_token_index, tokenizer.require_id("<image>"));
}

}  // namespace
}  // namespace privprobe
