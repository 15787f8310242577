// The subcommands' flags reach their stages: probeset -> extract --shard -> merge -> ask -> eval
// through CLI11 exactly as main.cpp registers them, and flag errors come back as errors.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "infer_fixtures.h"
#include "probeset/probeset.h"
#include "probeset_fixtures.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe::cli {
void register_probeset(CLI::App& app);
void register_extract(CLI::App& app);
void register_merge(CLI::App& app);
void register_ask(CLI::App& app);
void register_eval(CLI::App& app);
}  // namespace privprobe::cli

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// Parses and runs one command line (no program name) on a fresh app.
void run(const std::string& line) {
  CLI::App app{"privprobe"};
  app.require_subcommand(1);
  cli::register_probeset(app);
  cli::register_extract(app);
  cli::register_merge(app);
  cli::register_ask(app);
  cli::register_eval(app);
  app.parse(line, /*program_name_included=*/false);
}

TEST(InferCli, FlagsReachTheStages) {
  test::TempDir dir("infer_cli");
  const fs::path ckpt = dir / "ckpt";
  test::write_tiny_checkpoint(ckpt);
  const auto in = test::write_probeset_inputs(dir / "in", 6, 200, 120);
  const std::string d = dir.path().string();
  run("probeset --images " + in.images.string() + " --seen " + in.seen.string() + " --unseen " + in.unseen.string() +
      " --out " + d + "/ps --font-size 8 --seed 3 --question Who? --jobs 1");
  EXPECT_EQ(load_probeset(dir / "ps" / kProbesetFile).question, "Who?");

  const std::string extract = "extract --model " + ckpt.string() + " --probeset " + d + "/ps/probeset.json --threads 1 --batch-size 2";
  run(extract + " --out " + d + "/whole.safetensors --position all-mean");
  run(extract + " --out " + d + "/s1.safetensors --position all-mean --shard 1/2");
  run(extract + " --out " + d + "/s2.safetensors --position all-mean --shard 2/2");
  run("merge " + d + "/merged.safetensors " + d + "/s2.safetensors " + d + "/s1.safetensors");
  EXPECT_EQ(read_file(dir / "merged.safetensors"), read_file(dir / "whole.safetensors"));
  EXPECT_EQ(read_json(dir / "whole.json")["position"], "all-mean");
  EXPECT_THROW(run(extract + " --out " + d + "/bad.safetensors --shard 3/2"), ConfigError);
  EXPECT_THROW(run(extract), CLI::RequiredError);

  run("ask --model " + ckpt.string() + " --probeset " + d + "/ps/probeset.json --out " + d +
      "/ask --fold-count 2 --repeats 1 --max-new-tokens 3 --threads 1 --group-by profile");
  EXPECT_EQ(read_json(dir / "ask" / "ask.json")["membership"]["folds"]["group_by"], "profile");

  test::write_images(dir / "vqa", 1, 32, 32);
  test::write_text(dir / "test.json",
                   R"([{"id": "a", "image": "img_00.png", "conversations": [{"from": "human", "value": "<image>\nHow many shapes are there?"}, {"from": "gpt", "value": "2"}]}])");
  run("eval --model " + ckpt.string() + " --data " + d + "/test.json --image-root " + d + "/vqa --out " + d +
      "/eval --max-new-tokens 2 --threads 1");
  EXPECT_EQ(read_json(dir / "eval" / "eval.json")["total"], 1);
  EXPECT_THROW(run("eval --model " + ckpt.string() + " --data " + d + "/test.json --image-root " + d + "/vqa --out " + d +
                   "/eval --dtype f8"),
               ConfigError);
}

}  // namespace
}  // namespace privprobe
