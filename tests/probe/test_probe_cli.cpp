// `privprobe probe` from the command line (cmd_probe.cpp through a probe-only driver).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>

#include "probe_fixtures.h"
#include "support/test_support.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

struct CliRun {
  int exit_code = 0;
  std::string output;
};

CliRun run_probe_cli(const std::string& arguments) {
  const std::string command = std::string(PROBE_CLI_DRIVER) + " probe " + arguments + " 2>&1";
  CliRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  char buffer[4096];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, got);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return run;
}

class ProbeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    test::PlantedSpec spec;
    spec.pairs = 40;
    spec.layers = 3;
    test::write_activation_file(dir / "base.safetensors", test::make_planted_set(spec));
    spec.seed = 3;
    spec.signal_layers = {1};
    test::write_activation_file(dir / "tuned.safetensors", test::make_planted_set(spec));
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  test::TempDir dir{"probe-cli"};
};

TEST_F(ProbeCli, WritesProbeFilesAndSummary) {
  const CliRun run = run_probe_cli("--acts " + path("tuned.safetensors") + " --out " + path("out") +
                                " --folds 4 --repeats 2 --seed 5 --layers 0,1 --group-by profile");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("best layer 1"), std::string::npos) << run.output;
  const nlohmann::json probe = read_json(dir / "out" / "probe.json");
  EXPECT_EQ(probe["layers"].size(), 2u);
  EXPECT_EQ(probe["config"]["folds"], 4);
  EXPECT_EQ(probe["config"]["repeats"], 2);
  EXPECT_EQ(probe["config"]["seed"], 5);
  EXPECT_EQ(probe["config"]["group_by"], "profile");
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "probe.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "folds.json"));
}

TEST_F(ProbeCli, PaperSplitAndNoControl) {
  const CliRun run = run_probe_cli("--acts " + path("tuned.safetensors") + " --out " + path("out") +
                                " --split paper --no-control --C 0.5");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json probe = read_json(dir / "out" / "probe.json");
  EXPECT_EQ(probe["config"]["split"], "paper");
  EXPECT_EQ(probe["config"]["C"], 0.5);
  EXPECT_TRUE(probe["layers"][0]["control"].is_null());
  EXPECT_EQ(probe["layers"][0]["n"], 16);
}

TEST_F(ProbeCli, Compare) {
  const CliRun run = run_probe_cli("--compare " + path("base.safetensors") + " " + path("tuned.safetensors") + " --out " +
                                path("cmp") + " --repeats 1 --permutations 500");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("compare: 3 layer(s)"), std::string::npos) << run.output;
  const nlohmann::json compare = read_json(dir / "cmp" / "compare.json");
  EXPECT_EQ(compare["layers"].size(), 3u);
  EXPECT_GT(compare["layers"][1]["difference"].get<double>(), 0.2);
}

TEST_F(ProbeCli, BadInputsGiveOneLineErrors) {
  test::write_text(dir / "junk.safetensors", "not tensors");
  CliRun run = run_probe_cli("--acts " + path("junk.safetensors") + " --out " + path("out"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find(path("junk.safetensors")), std::string::npos) << run.output;
  EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "probe.json"));

  run = run_probe_cli("--acts " + path("base.safetensors") + " --out " + path("out") + " --split random");
  EXPECT_EQ(run.exit_code, 2) << run.output;
  run = run_probe_cli("--out " + path("out"));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  run = run_probe_cli("--acts " + path("base.safetensors") + " --out " + path("out") + " --folds-from " + path("none.json"));
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("none.json"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace privprobe
