// `privprobe dynamics compare` on hand-written dynamics.jsonl files: cosines with known answers,
// run folders or files, the JSON and table outputs, and clear errors for bad input.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "support/test_support.h"
#include "train/dynamics_compare.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe::cli {
void register_dynamics(CLI::App& app);  // apps/privprobe/cmd_dynamics.cpp
}

namespace privprobe {
namespace {

using test::TempDir;
using test::write_text;

std::string row(int step, const std::string& sketch, const std::string& extra = "") {
  return "{\"step\": " + std::to_string(step) + ", \"loss\": 1.5, \"sketch\": " + sketch + extra + "}\n";
}

class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(dir / "a" / "dynamics.jsonl", row(0, "[1, 2, 3]") + row(10, "[1, 0, 0]") + "\n" + row(20, "[1, 1, 0]"));
    write_text(dir / "b.jsonl", row(10, "[2, 0, 0]") + row(20, "[1, -1, 0]") + row(30, "[0, 0, 1]"));
  }
  template <typename E>
  void expect_error(const std::filesystem::path& a, const std::filesystem::path& b, const std::string& fragment) {
    try {
      compare_dynamics(a, b);
      ADD_FAILURE() << "no error for " << a << " vs " << b;
    } catch (const E& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  TempDir dir{"dynamics-compare"};
};

TEST_F(CompareTest, CosinesOverCommonSteps) {
  const SketchComparison c = compare_dynamics(dir / "a", dir / "b.jsonl");
  ASSERT_EQ(c.per_step.size(), 2u);
  EXPECT_EQ(c.per_step[0].first, 10);
  EXPECT_DOUBLE_EQ(c.per_step[0].second, 1.0);
  EXPECT_EQ(c.per_step[1].first, 20);
  EXPECT_NEAR(c.per_step[1].second, 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(c.mean, 0.5);
  EXPECT_NEAR(c.min, 0.0, 1e-15);
  EXPECT_EQ(c.steps_a, 3u);
  EXPECT_EQ(c.steps_b, 3u);
  EXPECT_EQ(c.file_a, dir / "a" / "dynamics.jsonl");
  EXPECT_EQ(c.sketch_size, 3);

  const auto j = sketch_comparison_to_json(c);
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["per_step"][1]["step"], 20);
  EXPECT_EQ(j["summary"]["common_steps"], 2);
  EXPECT_DOUBLE_EQ(j["summary"]["first"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["summary"]["mean"].get<double>(), 0.5);

  const std::string table = format_sketch_comparison(c);
  EXPECT_NE(table.find("\n10         1.00000\n"), std::string::npos) << table;
  EXPECT_NE(table.find("2 common steps (A logged 3, B 3): mean 0.50000, min 0.00000, first 1.00000, last 0.00000"),
            std::string::npos)
      << table;
}

TEST_F(CompareTest, ARunComparedWithItselfIsOneEverywhere) {
  const SketchComparison c = compare_dynamics(dir / "a", dir / "a" / "dynamics.jsonl");
  EXPECT_EQ(c.per_step.size(), 3u);
  for (const auto& [step, cosine] : c.per_step) EXPECT_NEAR(cosine, 1.0, 1e-15) << step;
}

TEST_F(CompareTest, ARepeatedStepCountsWithItsLastRow) {
  write_text(dir / "resumed.jsonl", row(10, "[0, 1, 0]") + row(10, "[-1, 0, 0]"));
  const SketchComparison c = compare_dynamics(dir / "resumed.jsonl", dir / "b.jsonl");
  ASSERT_EQ(c.per_step.size(), 1u);
  EXPECT_DOUBLE_EQ(c.per_step[0].second, -1.0);
}

// The subcommand as main() runs it: parse, print the table, write --out.
TEST_F(CompareTest, CommandLine) {
  CLI::App app;
  cli::register_dynamics(app);
  const std::string a = (dir / "a").string(), b = (dir / "b.jsonl").string(), out = (dir / "cmp.json").string();
  std::vector<std::string> args = {out, "--out", b, a, "compare", "dynamics"};  // CLI11 takes them reversed
  testing::internal::CaptureStdout();
  app.parse(args);
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("mean 0.50000"), std::string::npos) << printed;
  const auto j = read_json(dir / "cmp.json");
  EXPECT_EQ(j["summary"]["common_steps"], 2);

  CLI::App missing;
  cli::register_dynamics(missing);
  std::vector<std::string> one = {a, "compare", "dynamics"};
  EXPECT_THROW(missing.parse(one), CLI::RequiredError);
  CLI::App bad;
  cli::register_dynamics(bad);
  std::vector<std::string> nothing = {(dir / "none").string(), a, "compare", "dynamics"};
  EXPECT_THROW(bad.parse(nothing), IoError);
}

TEST_F(CompareTest, BadInputGivesClearErrors) {
  expect_error<IoError>(dir / "nothing", dir / "b.jsonl", "no such run folder");
  std::filesystem::create_directories(dir / "empty-run");
  expect_error<IoError>(dir / "empty-run", dir / "b.jsonl", "--dynamics-every");

  write_text(dir / "no-sketch.jsonl", row(10, "[1, 0, 0]") + "{\"step\": 20, \"loss\": 1}\n");
  expect_error<DataError>(dir / "no-sketch.jsonl", dir / "b.jsonl", "no-sketch.jsonl, line 2: has no 'sketch'");
  write_text(dir / "no-step.jsonl", "{\"sketch\": [1, 0, 0]}\n");
  expect_error<DataError>(dir / "no-step.jsonl", dir / "b.jsonl", "step");
  write_text(dir / "late.jsonl", row(40, "[1, 0, 0]"));
  expect_error<DataError>(dir / "late.jsonl", dir / "b.jsonl", "no step is logged in both");
  write_text(dir / "wide.jsonl", row(10, "[1, 0, 0, 0]"));
  expect_error<DataError>(dir / "wide.jsonl", dir / "b.jsonl", "buckets");
  write_text(dir / "ragged.jsonl", row(10, "[1, 0, 0]") + row(20, "[1, 0]"));
  expect_error<DataError>(dir / "ragged.jsonl", dir / "b.jsonl", "ragged.jsonl, line 2");
  write_text(dir / "text.jsonl", row(10, "[1, \"x\", 0]"));
  expect_error<DataError>(dir / "text.jsonl", dir / "b.jsonl", "not a number");
  write_text(dir / "empty-sketch.jsonl", row(10, "[]"));
  expect_error<DataError>(dir / "empty-sketch.jsonl", dir / "b.jsonl", "non-empty array");
  write_text(dir / "zero.jsonl", row(10, "[0, 0, 0]"));
  expect_error<DataError>(dir / "zero.jsonl", dir / "b.jsonl", "all zeros");
  write_text(dir / "blank.jsonl", "\n");
  expect_error<DataError>(dir / "blank.jsonl", dir / "b.jsonl", "has no rows");
  write_text(dir / "broken.jsonl", row(10, "[1, 0, 0]") + "{\"step\": 20, \n");
  expect_error<FormatError>(dir / "broken.jsonl", dir / "b.jsonl", "line 2");
  write_text(dir / "array.jsonl", "[1, 2]\n");
  expect_error<DataError>(dir / "array.jsonl", dir / "b.jsonl", "not a JSON object");

  write_text(dir / "seed1.jsonl", row(10, "[1, 0, 0]", ", \"sketch_seed\": 1"));
  write_text(dir / "seed2.jsonl", row(10, "[1, 0, 0]", ", \"sketch_seed\": 2"));
  expect_error<DataError>(dir / "seed1.jsonl", dir / "seed2.jsonl", "sketch_seed");
  write_text(dir / "seed-mixed.jsonl", row(10, "[1, 0, 0]", ", \"sketch_seed\": 1") + row(20, "[1, 0, 0]", ", \"sketch_seed\": 3"));
  expect_error<DataError>(dir / "seed-mixed.jsonl", dir / "b.jsonl", "sketch_seed differs");
  write_text(dir / "seed-negative.jsonl", row(10, "[1, 0, 0]", ", \"sketch_seed\": -1"));
  expect_error<DataError>(dir / "seed-negative.jsonl", dir / "b.jsonl", "sketch_seed");
}

}  // namespace
}  // namespace privprobe
