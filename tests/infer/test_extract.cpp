// extract on a tiny random checkpoint: captured states equal a single-sample forward (batching and
// left padding change nothing), sharded extract + merge equals one run bit for bit, the file is
// what `probe` reads, and every bad input is a clear error.
#include <gtest/gtest.h>

#include "infer/extract.h"
#include "infer/inference.h"
#include "infer_fixtures.h"
#include "io/safetensors.h"
#include "model/capture.h"
#include "probe/activations.h"
#include "probeset/activation_file.h"
#include "probeset/probeset.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

torch::Tensor read_f32(const SafetensorsFile& file, const std::string& name) {
  const TensorInfo& info = file.at(name);
  const ByteView bytes = file.data(info);
  return torch::from_blob(const_cast<std::uint8_t*>(bytes.data), info.shape, torch::kFloat32).clone();
}

std::vector<std::int64_t> read_i64(const SafetensorsFile& file, const std::string& name) {
  const ByteView bytes = file.data(name);
  const auto* p = reinterpret_cast<const std::int64_t*>(bytes.data);
  return {p, p + bytes.size / 8};
}

class Extract : public ::testing::Test {
 protected:
  void SetUp() override { test::write_tiny_checkpoint(checkpoint); }
  ExtractConfig config(const fs::path& probeset, const std::string& out, int batch_size = 3) const {
    ExtractConfig c;
    c.model = checkpoint;
    c.probeset = probeset;
    c.out = dir / out;
    c.batch_size = batch_size;
    c.inference.threads = 1;
    return c;
  }
  // The captured states of one sample run alone: [L+1, D].
  torch::Tensor single_forward(InferenceModel& m, const TokenizedInputs& tokens, const fs::path& image,
                               const std::string& position = "last") {
    torch::NoGradGuard no_grad;
    const std::vector<BatchRow> rows = {{&tokens, m.image(image)}};
    const LlavaBatch batch = left_padded_batch(m, rows);
    ForwardOptions options;
    options.capture_weights = capture_weights(CapturePosition::parse(position), batch.input_ids, batch.attention_mask,
                                              {static_cast<std::int64_t>(tokens.prompt_length)}, m.image_token_id());
    return m.model()->forward(batch, options).states[0];
  }
  test::TempDir dir{"extract"};
  fs::path checkpoint = dir / "ckpt";
};

TEST_F(Extract, StatesEqualASingleSampleForward) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 4);
  const ExtractResult r = run_extract(config(probeset, "acts.safetensors"));
  EXPECT_EQ(r.samples, 8);
  EXPECT_EQ(r.states, 3);
  EXPECT_EQ(r.dim, 16);

  const SafetensorsFile file(dir / "acts.safetensors");
  const torch::Tensor states = read_f32(file, "states");
  EXPECT_EQ(states.sizes(), (std::vector<std::int64_t>{8, 3, 16}));
  EXPECT_FALSE(file.find("vision_states"));
  const ProbeSet set = load_probeset(probeset);
  const auto labels = read_i64(file, "labels"), groups = read_i64(file, "groups"), profiles = read_i64(file, "profiles");
  InferenceOptions options;
  options.threads = 1;
  InferenceModel m = open_inference_model(checkpoint, options);
  const TokenizedInputs prompt = m.question(set.question, true);
  for (std::size_t i = 0; i < set.samples.size(); ++i) {
    EXPECT_EQ(labels[i], set.samples[i].label);
    EXPECT_EQ(groups[i], set.samples[i].group);
    EXPECT_EQ(profiles[i], set.samples[i].profile_index);
    const torch::Tensor alone = single_forward(m, prompt, set.samples[i].image_path);
    EXPECT_TRUE(torch::allclose(states[static_cast<std::int64_t>(i)], alone, 1e-5, 1e-6)) << "sample " << i;
  }
  // Samples differ (the watermark reaches the captured state).
  EXPECT_FALSE(torch::allclose(states[0], states[1]));

  const json meta = read_json(dir / "acts.json");
  EXPECT_EQ(meta["position"], "last");
  EXPECT_EQ(meta["question"], set.question);
  EXPECT_EQ(meta["template"], "tiny");
  EXPECT_EQ(meta["states"]["names"][2], "language_model.hidden_states.2");
  EXPECT_FALSE(meta.contains("shard"));
  ASSERT_EQ(meta["samples"].size(), 8u);
  EXPECT_EQ(meta["samples"][5]["input_ids"].get<std::vector<std::int64_t>>(), prompt.input_ids);
  EXPECT_EQ(meta["samples"][5]["prompt_text"], "USER: <image>\nWhat is the username? ASSISTANT:");
  EXPECT_TRUE(fs::exists(dir / "acts.timing.json"));

  // The file is what `probe` reads.
  const ActivationSet acts = load_activations(dir / "acts.safetensors");
  EXPECT_EQ(acts.samples, 8);
  EXPECT_EQ(acts.layers, 3);
  EXPECT_EQ(acts.groups.size(), 8u);
}

TEST_F(Extract, LeftPaddingLeavesEachRowsStatesUnchanged) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 1);
  const ProbeSet set = load_probeset(probeset);
  InferenceOptions options;
  options.threads = 1;
  InferenceModel m = open_inference_model(checkpoint, options);
  const TokenizedInputs long_prompt = m.question("What is the username written in the corner?", true);
  const TokenizedInputs short_prompt = m.question("Name?", true);
  for (const std::string position : {"last", "image-mean", "all-mean", "index:2"}) {
    torch::NoGradGuard no_grad;
    const std::vector<BatchRow> rows = {{&long_prompt, m.image(set.samples[0].image_path)},
                                        {&short_prompt, m.image(set.samples[1].image_path)}};
    const LlavaBatch batch = left_padded_batch(m, rows);
    EXPECT_EQ(batch.attention_mask[1][0].item<std::int64_t>(), 0);  // the short row is padded on the left
    ForwardOptions fo;
    fo.capture_weights = capture_weights(CapturePosition::parse(position), batch.input_ids, batch.attention_mask,
                                         {static_cast<std::int64_t>(long_prompt.prompt_length),
                                          static_cast<std::int64_t>(short_prompt.prompt_length)},
                                         m.image_token_id());
    const torch::Tensor batched = m.model()->forward(batch, fo).states;
    EXPECT_TRUE(torch::allclose(batched[0], single_forward(m, long_prompt, set.samples[0].image_path, position), 1e-5, 1e-6))
        << position;
    EXPECT_TRUE(torch::allclose(batched[1], single_forward(m, short_prompt, set.samples[1].image_path, position), 1e-5, 1e-6))
        << position;
  }
}

TEST_F(Extract, ShardedExtractAndMergeEqualOneRunBitForBit) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 5);  // 10 samples, 4 batches of 3
  auto whole = config(probeset, "whole.safetensors");
  whole.vision = true;
  whole.position = "image-mean";
  run_extract(whole);
  auto again = whole;
  again.out = dir / "again.safetensors";
  run_extract(again);
  EXPECT_EQ(read_file(dir / "whole.safetensors"), read_file(dir / "again.safetensors"));

  std::vector<fs::path> shards;
  for (int i = 1; i <= 3; ++i) {
    auto part = whole;
    part.shard = std::to_string(i) + "/3";
    part.out = dir / ("part" + std::to_string(i) + ".safetensors");
    run_extract(part);
    shards.push_back(part.out);
  }
  const json first = read_json(dir / "part1.json");
  EXPECT_EQ(first["shard"]["begin"], 0);
  EXPECT_EQ(first["shard"]["end"], 3);
  run_merge({dir / "merged.safetensors", {shards[2], shards[0], shards[1]}});
  EXPECT_EQ(read_file(dir / "merged.safetensors"), read_file(dir / "whole.safetensors"));
  EXPECT_EQ(read_file(dir / "merged.json"), read_file(dir / "whole.json"));

  const SafetensorsFile file(dir / "merged.safetensors");
  EXPECT_EQ(file.at("vision_states").shape, (std::vector<std::int64_t>{10, 3, 16}));
  const json meta = read_json(dir / "merged.json");
  EXPECT_EQ(meta["position"], "image-mean");
  EXPECT_EQ(meta["vision_states"]["names"][0], "vision_tower.hidden_states.0");

  // Shards of another batch size are another run.
  auto odd = whole;
  odd.batch_size = 5;
  odd.shard = "2/2";
  odd.out = dir / "odd.safetensors";
  run_extract(odd);
  EXPECT_THROW(run_merge({dir / "bad.safetensors", {shards[0], dir / "odd.safetensors"}}), DataError);
}

TEST_F(Extract, BadInputsAreClearErrors) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 2);
  auto expect_error = [&](const ExtractConfig& c, auto error, const std::string& needle) {
    using E = decltype(error);
    try {
      run_extract(c);
      ADD_FAILURE() << "accepted (" << needle << ")";
    } catch (const E& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong error type: " << e.what();
    }
  };
  auto c = config(probeset, "x.safetensors");
  fs::create_directories(dir / "not_a_checkpoint");
  c.model = dir / "not_a_checkpoint";
  expect_error(c, IoError(""), "not_a_checkpoint");
  c = config(probeset, "x.safetensors");
  c.shard = "0/2";
  expect_error(c, ConfigError(""), "--shard");
  c.shard = "3/3";  // 4 samples in batches of 3: two batches
  expect_error(c, ConfigError(""), "--shard");
  c = config(probeset, "x.json");
  expect_error(c, ConfigError(""), "x.json");
  c = config(probeset, "x.safetensors");
  c.position = "middle";
  expect_error(c, ConfigError(""), "middle");
  c.position = "last";
  c.inference.dtype = "f64";
  expect_error(c, ConfigError(""), "f64");
  c = config(probeset, "x.safetensors", 0);
  expect_error(c, ConfigError(""), "--batch-size");

  // A probe set referencing a missing image; an empty probe set.
  json doc = read_json(probeset);
  const std::string image = doc["samples"][2]["image"];
  fs::remove(probeset.parent_path() / image);
  c = config(probeset, "x.safetensors");
  expect_error(c, IoError(""), image);
  doc["samples"] = json::array();
  write_json_atomic(probeset, doc);
  expect_error(c, DataError(""), "no samples");
  EXPECT_FALSE(fs::exists(dir / "x.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "x.json"));
}

}  // namespace
}  // namespace privprobe
