// Bad activation files: every one gets a clear one-line error naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/half_float.h"
#include "io/safetensors_writer.h"
#include "probe/probe.h"
#include "probe/probe_output.h"
#include "probe_fixtures.h"
#include "support/test_support.h"
#include "util/error.h"

namespace privprobe {
namespace {

class ProbeInputs : public ::testing::Test {
 protected:
  // A small valid set's tensors, which each test spoils in one way.
  void SetUp() override {
    test::PlantedSpec spec;
    spec.pairs = 20;
    spec.layers = 3;
    spec.dim = 4;
    const ActivationSet set = test::make_planted_set(spec);
    states = test::states_of(set);
    labels.assign(set.labels.begin(), set.labels.end());
    groups = set.groups;
    profiles = set.profiles;
  }

  std::filesystem::path write(const std::vector<TensorToWrite>& tensors) {
    const std::filesystem::path path = dir / "acts.safetensors";
    write_safetensors(path, tensors);
    return path;
  }

  TensorToWrite states_tensor(std::vector<std::int64_t> shape = {40, 3, 4}) {
    return {"states", Dtype::F32, std::move(shape), states.data(), states.size() * sizeof(float)};
  }
  TensorToWrite labels_tensor() { return {"labels", Dtype::I64, {40}, labels.data(), labels.size() * 8}; }
  TensorToWrite groups_tensor() { return {"groups", Dtype::I64, {40}, groups.data(), groups.size() * 8}; }

  // Runs the probe job on path and returns the error message, expecting an error of type E.
  template <typename E>
  std::string error_of(const std::filesystem::path& path, ProbeConfig config = {}) {
    ProbeJob job;
    job.acts = path;
    job.out = dir / "out";
    job.config = config;
    job.config.folds = 2;
    job.config.repeats = 1;
    job.config.bootstrap = 10;
    try {
      run_probe_job(job);
    } catch (const E& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << "error does not name the file: " << message;
      EXPECT_EQ(message.find('\n'), std::string::npos);
      EXPECT_FALSE(std::filesystem::exists(dir / "out" / "probe.json")) << "no output after an error";
      return message;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong error type: " << e.what();
      return {};
    }
    ADD_FAILURE() << "no error for " << path;
    return {};
  }

  test::TempDir dir{"probe-inputs"};
  std::vector<float> states;
  std::vector<std::int64_t> labels, groups, profiles;
};

TEST_F(ProbeInputs, ValidFileRuns) {
  ProbeJob job;
  job.acts = write({states_tensor(), labels_tensor(), groups_tensor()});
  job.out = dir / "out";
  job.config.folds = 2;
  job.config.repeats = 1;
  EXPECT_NO_THROW(run_probe_job(job));
}

TEST_F(ProbeInputs, NotASafetensorsFile) {
  test::write_text(dir / "acts.safetensors", "this is not a tensor file at all");
  error_of<FormatError>(dir / "acts.safetensors");
  EXPECT_NE(error_of<IoError>(dir / "missing.safetensors").find("missing.safetensors"), std::string::npos);
}

TEST_F(ProbeInputs, MissingStatesOrLabels) {
  EXPECT_NE(error_of<DataError>(write({labels_tensor()})).find("'states'"), std::string::npos);
  EXPECT_NE(error_of<DataError>(write({states_tensor()})).find("'labels'"), std::string::npos);
}

TEST_F(ProbeInputs, ShapesDisagree) {
  EXPECT_NE(error_of<DataError>(write({states_tensor({40, 12}), labels_tensor()})).find("[N, L, D]"), std::string::npos);
  std::vector<std::int64_t> short_labels(labels.begin(), labels.begin() + 30);
  const std::string message = error_of<DataError>(
      write({states_tensor(), {"labels", Dtype::I64, {30}, short_labels.data(), short_labels.size() * 8}}));
  EXPECT_NE(message.find("labels"), std::string::npos);
  std::vector<std::int64_t> short_groups(groups.begin(), groups.begin() + 39);
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor(),
                                       {"groups", Dtype::I64, {39}, short_groups.data(), short_groups.size() * 8}}))
                .find("groups"),
            std::string::npos);
  std::vector<float> float_labels(40, 1.0f);
  EXPECT_NE(error_of<DataError>(write({states_tensor(), {"labels", Dtype::F32, {40}, float_labels.data(), 160}}))
                .find("integer"),
            std::string::npos);
}

TEST_F(ProbeInputs, LabelsNotZeroOne) {
  labels[7] = 2;
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor()})).find("labels[7] is 2"), std::string::npos);
}

TEST_F(ProbeInputs, OneClassOnly) {
  std::fill(labels.begin(), labels.end(), 1);
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor()})).find("one class"), std::string::npos);
  ProbeConfig paper;
  paper.split = ProbeSplit::kPaper;
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor()}), paper).find("one class"), std::string::npos);
}

TEST_F(ProbeInputs, FewerGroupsPerClassThanFolds) {
  ProbeConfig config;
  const auto path = write({states_tensor(), labels_tensor(), groups_tensor()});
  ProbeJob job;
  job.acts = path;
  job.out = dir / "out";
  job.config.folds = 21;  // 20 pairs: 20 groups hold each class
  try {
    run_probe_job(job);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("20 groups, fewer than the 21 folds"), std::string::npos) << e.what();
  }
}

TEST_F(ProbeInputs, NonFiniteStatesNameTheLayer) {
  states[(5 * 3 + 2) * 4 + 1] = std::numeric_limits<float>::quiet_NaN();  // sample 5, layer 2
  std::string message = error_of<DataError>(write({states_tensor(), labels_tensor()}));
  EXPECT_NE(message.find("layer 2, sample 5"), std::string::npos) << message;
  SetUp();
  states[(9 * 3 + 0) * 4 + 3] = -std::numeric_limits<float>::infinity();
  message = error_of<DataError>(write({states_tensor(), labels_tensor()}));
  EXPECT_NE(message.find("layer 0, sample 9"), std::string::npos) << message;
  // A layer that is not probed may hold anything.
  ProbeConfig config;
  config.layers = {1, 2};
  ProbeJob job;
  job.acts = dir / "acts.safetensors";
  job.out = dir / "out";
  job.config = config;
  job.config.folds = 2;
  job.config.repeats = 1;
  EXPECT_NO_THROW(run_probe_job(job));
}

TEST_F(ProbeInputs, HalfPrecisionStatesAndNonFiniteHalves) {
  std::vector<std::uint16_t> halves(states.size());
  for (std::size_t i = 0; i < states.size(); ++i) halves[i] = f32_to_f16(states[i]);
  ProbeJob job;
  job.acts = write({{"states", Dtype::F16, {40, 3, 4}, halves.data(), halves.size() * 2}, labels_tensor()});
  job.out = dir / "out";
  job.config.folds = 2;
  job.config.repeats = 1;
  EXPECT_NO_THROW(run_probe_job(job));
  std::filesystem::remove_all(dir / "out");
  halves[(3 * 3 + 1) * 4] = 0x7c00;  // +Inf, sample 3, layer 1
  const std::string message =
      error_of<DataError>(write({{"states", Dtype::F16, {40, 3, 4}, halves.data(), halves.size() * 2}, labels_tensor()}));
  EXPECT_NE(message.find("layer 1, sample 3"), std::string::npos) << message;
}

TEST_F(ProbeInputs, ProfileGroupingNeedsProfiles) {
  ProbeConfig config;
  config.group_by = ProbeGroupBy::kProfile;
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor()}), config).find("profiles"), std::string::npos);
}

TEST_F(ProbeInputs, LayerOutOfRange) {
  ProbeConfig config;
  config.layers = {5};
  EXPECT_NE(error_of<DataError>(write({states_tensor(), labels_tensor()}), config).find("layer 5"), std::string::npos);
}

TEST(ProbeConfigTest, Validate) {
  ProbeConfig config;
  EXPECT_NO_THROW(config.validate());
  config.folds = 1;
  EXPECT_THROW(config.validate(), ConfigError);
  config = ProbeConfig{};
  config.C = 0;
  EXPECT_THROW(config.validate(), ConfigError);
  config = ProbeConfig{};
  config.layers = {1, 1};
  EXPECT_THROW(config.validate(), ConfigError);
  EXPECT_THROW(parse_probe_split("random"), ConfigError);
  EXPECT_THROW(parse_probe_group_by("pixel"), ConfigError);
  EXPECT_EQ(parse_probe_split("paper"), ProbeSplit::kPaper);
  EXPECT_EQ(parse_probe_group_by("profile"), ProbeGroupBy::kProfile);
}

}  // namespace
}  // namespace privprobe
