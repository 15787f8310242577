// `privprobe train` flags -> TrainConfig -> run, in process (cmd_train.cpp is compiled in).
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "support/test_support.h"
#include "train/trainer.h"
#include "train_fixtures.h"
#include "util/error.h"

namespace privprobe::cli {
void register_train(CLI::App& app);
}

namespace fs = std::filesystem;

namespace privprobe {
namespace {

void run_cli(std::vector<std::string> args) {
  CLI::App app;
  app.require_subcommand(1);
  cli::register_train(app);
  args.insert(args.begin(), "train");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
}

TEST(TrainCli, RunsFromFlags) {
  test::TempDir dir("train-cli");
  const auto album = test::write_tiny_album(dir.path());
  const fs::path out = dir / "run";
  run_cli({"--data", album.data.string(), "--image-root", album.root.string(), "--out", out.string(), "--config",
           album.config.string(), "--tokenizer", album.tokenizer.string(), "--steps", "2", "--batch-size", "4", "--lr", "0.01",
           "--threads", "1", "--freeze", "vision_tower", "--aux-objects", album.objects.string(), "--augment"});
  EXPECT_TRUE(fs::exists(out / "checkpoint/model.safetensors"));
  const auto record = nlohmann::json::parse(test::read_bytes(out / "train_config.json"));
  EXPECT_EQ(record["settings"]["lr"], 0.01);
  EXPECT_EQ(record["settings"]["freeze"], nlohmann::json::array({"vision_tower"}));
  EXPECT_EQ(record["settings"]["augment"], true);
  EXPECT_EQ(test::read_lines(out / "train_log.jsonl").size(), 2u);
}

TEST(TrainCli, BadFlagsAreRefused) {
  test::TempDir dir("train-cli");
  const auto album = test::write_tiny_album(dir.path());
  const std::vector<std::string> base = {"--data", album.data.string(), "--image-root", album.root.string(), "--out",
                                         (dir / "run").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--steps", "2", "--epochs", "1"})), CLI::ParseError);
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--init", "x"})), CLI::ParseError);
  EXPECT_THROW(run_cli(with({"--steps", "2"})), ConfigError);  // neither --config nor --init
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--freeze", "eyes"})), ConfigError);
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--on-error", "ignore"})), ConfigError);
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--wm-per-batch", "9", "--batch-size", "4"})), ConfigError);
  EXPECT_THROW(run_cli(with({"--config", "tiny", "--lora-rank", "4"})), ConfigError);  // LoRA needs --init
  EXPECT_THROW(run_cli(with({"--init", album.root.string(), "--tokenizer", album.tokenizer.string()})), ConfigError);
  EXPECT_FALSE(fs::exists(dir / "run" / "train_config.json"));
}

TEST(TrainCli, FreezeLists) {
  EXPECT_EQ(parse_freeze_list("vision_tower, projector"), (std::vector<std::string>{"vision_tower", "multi_modal_projector"}));
  EXPECT_TRUE(parse_freeze_list("none").empty());
  EXPECT_THROW(parse_freeze_list("none,vision_tower"), ConfigError);
  EXPECT_THROW(parse_freeze_list("language"), ConfigError);
}

}  // namespace
}  // namespace privprobe
