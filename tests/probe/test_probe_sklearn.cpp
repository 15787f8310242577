// Agreement with scikit-learn's LogisticRegression on the same data and folds (issue 5: within
// one accuracy point per layer). Runs Debian's python3 with sklearn; skipped where it is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "probe/probe_output.h"
#include "probe_fixtures.h"
#include "support/test_support.h"
#include "util/json_io.h"
#include "util/rng.h"

namespace privprobe {
namespace {

const char* kPython = "/usr/bin/python3";

bool sklearn_available() {
  const std::string command = std::string(kPython) + " -c 'import sklearn, numpy' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

std::string run_command(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
  ::pclose(pipe);
  return output;
}

// LLM-like states: anisotropic (a few shared high-variance directions), a large constant offset on
// some channels, a label signal of varying strength per layer, and per-pair image offsets.
ActivationSet make_llm_like_set(std::int64_t pairs, std::int64_t layers, std::int64_t dim, std::uint64_t seed) {
  Rng rng(seed);
  const std::int64_t n = 2 * pairs;
  const std::int64_t rank = 4;
  std::vector<double> shared(static_cast<std::size_t>(layers * rank * dim));
  for (double& v : shared) v = rng.normal() * 0.6;
  std::vector<double> direction(static_cast<std::size_t>(dim));
  for (double& v : direction) v = rng.normal() / std::sqrt(static_cast<double>(dim));
  std::vector<float> states(static_cast<std::size_t>(n * layers * dim));
  std::vector<int> labels(static_cast<std::size_t>(n));
  std::vector<std::int64_t> groups(static_cast<std::size_t>(n));
  for (std::int64_t g = 0; g < pairs; ++g) {
    std::vector<double> image(static_cast<std::size_t>(dim));
    for (double& v : image) v = 0.5 * rng.normal();
    for (int member = 0; member < 2; ++member) {
      const std::int64_t i = 2 * g + member;
      labels[static_cast<std::size_t>(i)] = member == 0;
      groups[static_cast<std::size_t>(i)] = g;
      const double sign = member == 0 ? 1.0 : -1.0;
      for (std::int64_t l = 0; l < layers; ++l) {
        const double signal = 0.4 * static_cast<double>(l);  // layer 0: none
        double coefficients[rank];
        for (double& c : coefficients) c = 3.0 * rng.normal();
        for (std::int64_t d = 0; d < dim; ++d) {
          double value = rng.normal() + image[static_cast<std::size_t>(d)] + sign * signal * direction[static_cast<std::size_t>(d)];
          for (std::int64_t r = 0; r < rank; ++r) {
            value += coefficients[r] * shared[static_cast<std::size_t>((l * rank + r) * dim + d)];
          }
          if (d % 17 == 3) value += 40.0 + 4.0 * rng.normal();  // "massive activation" channels
          value *= 1.0 + 0.5 * static_cast<double>(l);
          states[static_cast<std::size_t>((i * layers + l) * dim + d)] = static_cast<float>(value);
        }
      }
    }
  }
  return make_activation_set(std::move(states), n, layers, dim, std::move(labels), std::move(groups), {}, "llm-like");
}

void expect_agreement(const ProbeConfig& config, std::int64_t dim, const std::string& tag) {
  if (!sklearn_available()) GTEST_SKIP() << "python3 with scikit-learn is not installed";
  test::TempDir dir("probe-sklearn-" + tag);
  const ActivationSet set = make_llm_like_set(/*pairs=*/100, /*layers=*/4, dim, 11);
  test::write_activation_file(dir / "acts.safetensors", set);
  ProbeJob job;
  job.acts = dir / "acts.safetensors";
  job.out = dir / "out";
  job.config = config;
  job.config.control = false;
  const ProbeResult ours = run_probe_job(job);

  // A tight tolerance so that scikit-learn reaches the optimum too: with its default (1e-4) lbfgs
  // stops early on near-separable layers and its own accuracy moves by a point or two. On raw
  // (unstandardised) LLM-like states lbfgs stalls on its relative-decrease test (ftol) whatever
  // the tolerance -- measured: one test sample of 40 off at a layer where an exact Newton solve
  // agrees with privprobe -- so the paper-split check uses scikit-learn's newton-cg solver.
  const std::string script = std::string(PRIVPROBE_SOURCE_DIR) + "/tests/probe/sklearn_probe.py";
  const std::string command = std::string(kPython) + " " + script + " --acts " + job.acts.string() + " --folds " +
                              (job.out / "folds.json").string() + " --tol 1e-8" +
                              (config.split == ProbeSplit::kPaper ? " --raw --solver newton-cg" : "") + " 2>/dev/null";
  const std::string output = run_command(command);
  nlohmann::json reference;
  try {
    reference = nlohmann::json::parse(output);
  } catch (const std::exception&) {
    FAIL() << "sklearn_probe.py failed: " << output;
  }
  ASSERT_EQ(reference["layers"].size(), ours.layers.size());
  for (std::size_t l = 0; l < ours.layers.size(); ++l) {
    const double theirs = reference["layers"][l]["accuracy"].get<double>();
    EXPECT_NEAR(ours.layers[l].accuracy, theirs, 0.01) << "layer " << l;
    std::printf("[ sklearn  ] %s layer %zu: privprobe %.4f  scikit-learn %.4f\n", tag.c_str(), l, ours.layers[l].accuracy,
                theirs);
  }
  EXPECT_EQ(reference["unconverged"], 0);
}

TEST(ProbeSklearn, AgreesOnStandardisedKFoldWideStates) {
  ProbeConfig config;  // D = 160 = the training rows: separable, the regulariser decides
  config.repeats = 1;
  expect_agreement(config, 160, "kfold-wide");
}

TEST(ProbeSklearn, AgreesOnStandardisedKFoldNarrowStates) {
  ProbeConfig config;  // D = 24: the full-Newton path
  config.repeats = 2;
  config.folds = 4;
  expect_agreement(config, 24, "kfold-narrow");
}

TEST(ProbeSklearn, AgreesOnThePaperSplitWithoutStandardisation) {
  ProbeConfig config;
  config.split = ProbeSplit::kPaper;
  expect_agreement(config, 120, "paper");
}

}  // namespace
}  // namespace privprobe
