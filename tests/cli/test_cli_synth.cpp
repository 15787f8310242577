// `privprobe synth` through the binary: flags reach the stage, one summary line on stdout,
// one-line errors with a non-zero exit for bad flags.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/llava_json.h"
#include "support/test_support.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;

TEST(CliSynth, WritesTheAlbumAndOneSummaryLine) {
  test::TempDir dir("cli-synth");
  const auto result = test::run_privprobe({"synth", "--out", (dir / "album").string(), "--count", "40", "--size", "64",
                                           "--seed", "3", "--test-fraction", "0.25", "--turns", "2", "--jobs", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_NE(result.output.find("40 images"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("30 train, 10 test"), std::string::npos) << result.output;
  EXPECT_EQ(load_llava_json(dir / "album/train.json").size(), 30u);
  EXPECT_EQ(load_llava_json(dir / "album/test.json").size(), 10u);
  const auto config = read_json(dir / "album/synth_config.json");
  EXPECT_EQ(config["size"], 64);
  EXPECT_EQ(config["turns"], 2);
  EXPECT_EQ(config["seed"], 3);
  EXPECT_TRUE(fs::exists(dir / "album/images/000039.png"));
}

TEST(CliSynth, JobsDoNotChangeTheBytes) {
  test::TempDir dir("cli-synth-jobs");
  for (const char* jobs : {"1", "2"}) {
    const auto result = test::run_privprobe({"synth", "--out", (dir / jobs).string(), "--count", "25", "--seed", "11",
                                             "--format", "jpg", "--jobs", jobs});
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  EXPECT_EQ(test::hash_tree(dir / "1"), test::hash_tree(dir / "2"));
}

TEST(CliSynth, WarnsAboutImagesOfAnEarlierAlbum) {
  test::TempDir dir("cli-synth-rerun");
  const std::string out = (dir / "album").string();
  ASSERT_EQ(test::run_privprobe({"synth", "--out", out, "--count", "8"}).exit_code, 0);
  const auto smaller = test::run_privprobe({"synth", "--out", out, "--count", "5"});
  ASSERT_EQ(smaller.exit_code, 0) << smaller.output;
  EXPECT_NE(smaller.output.find("3 files"), std::string::npos) << smaller.output;
  const auto same = test::run_privprobe({"synth", "--out", out, "--count", "8"});
  EXPECT_EQ(same.output.find("not part of this album"), std::string::npos) << same.output;
}

TEST(CliSynth, BadFlagsFailWithOneLine) {
  test::TempDir dir("cli-synth-bad");
  const std::vector<std::vector<std::string>> bad = {
      {"synth", "--out", (dir / "a").string(), "--count", "0"},
      {"synth", "--out", (dir / "a").string(), "--size", "16"},
      {"synth", "--out", (dir / "a").string(), "--format", "gif"},
      {"synth", "--out", (dir / "a").string(), "--test-fraction", "1"},
      {"synth", "--out", (dir / "a").string(), "--turns", "9"},
  };
  for (const auto& args : bad) {
    const auto result = test::run_privprobe(args);
    EXPECT_EQ(result.exit_code, 2) << args[3] << ": " << result.output;
    EXPECT_NE(result.output.find(args[3]), std::string::npos) << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  }
  EXPECT_FALSE(fs::exists(dir / "a"));
  const auto no_out = test::run_privprobe({"synth", "--count", "3"});
  EXPECT_NE(no_out.exit_code, 0);
  EXPECT_NE(no_out.output.find("--out"), std::string::npos) << no_out.output;
}

}  // namespace
}  // namespace privprobe
