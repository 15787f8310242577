// Checkpoint folders: bit-exact round trip, Hugging Face layouts (sharded, F16/BF16, newer
// weight names), and clear errors for checkpoints that do not match their config.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "support/small_llava.h"
#include "model/parameter_init.h"
#include "model/weights.h"
#include "support/test_support.h"
#include "text/sentencepiece_model.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

LlavaConfig small_config(int vocab) {
  LlavaConfig c = test::small_llava_config(16, 2, 2);
  c.text.vocab_size = vocab;
  return c;
}

fs::path write_tokenizer(const fs::path& dir) {
  BpeModelSpec spec;
  for (const char* piece : {"\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a"}) spec.pieces.emplace_back(piece, 0.0f);
  const fs::path path = dir / "source_tokenizer.model";
  write_sentencepiece_model(path, build_bpe_model(spec));
  return path;
}

struct Saved {
  test::TempDir dir{"ckpt"};
  fs::path tokenizer_file;
  LlavaConfig config;
  LlavaForConditionalGeneration model{nullptr};
  fs::path folder;
};

std::unique_ptr<Saved> save_small(const CheckpointSaveOptions& options = {}) {
  auto s = std::make_unique<Saved>();
  s->tokenizer_file = write_tokenizer(s->dir.path());
  auto tokenizer = SentencePieceTokenizer::load(s->tokenizer_file);
  s->config = small_config(tokenizer.vocab_size());
  torch::manual_seed(3);
  s->model = LlavaForConditionalGeneration(s->config);
  s->folder = s->dir / "ckpt";
  save_checkpoint(s->folder, s->model, s->config, s->tokenizer_file, tokenizer, ImageProcessorConfig::for_size(32),
                  {{"seed", 3}}, options);
  return s;
}

// Loading skips the random initial draws (minutes for a 7B model): the language model (the bulk
// of one) and every Linear constructed under the guard consume no random numbers, and the guard
// restores drawing when it ends.
TEST(Checkpoint, ConstructionWithoutInitDrawsNothing) {
  const LlavaConfig config = small_config(12);
  torch::manual_seed(11);
  const torch::Tensor expected = torch::rand({4});
  torch::manual_seed(11);
  {
    SkipParameterInit no_init;
    EXPECT_FALSE(parameter_init_enabled());
    LlamaForCausalLm text(config.text);
    Linear projection(16, 32);
    EXPECT_EQ(text->parameters().size(), 1 + 9 * static_cast<std::size_t>(config.text.num_hidden_layers) + 1 + 1);
  }
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected)) << "constructing without init drew random numbers";
  EXPECT_TRUE(parameter_init_enabled());
  torch::manual_seed(11);
  LlamaForCausalLm drawn(config.text);
  EXPECT_FALSE(torch::equal(torch::rand({4}), expected)) << "the test cannot tell: a normal construction drew nothing";
}

TEST(Checkpoint, SaveLoadIsBitExact) {
  auto s = save_small();
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "preprocessor_config.json", "privprobe.json"}) {
    EXPECT_TRUE(fs::exists(s->folder / f)) << f;
  }
  auto loaded = load_checkpoint(s->folder);
  EXPECT_EQ(loaded.config.template_name, "tiny");
  EXPECT_EQ(loaded.provenance["seed"], 3);
  auto original = s->model->named_parameters();
  auto restored = loaded.model->named_parameters();
  ASSERT_EQ(original.size(), restored.size());
  for (const auto& item : original) {
    EXPECT_TRUE(torch::equal(item.value(), restored[item.key()])) << item.key();
  }
}

TEST(Checkpoint, ShardedF16LoadsByName) {
  CheckpointSaveOptions options;
  options.dtype = torch::kFloat16;
  options.max_shard_bytes = 4096;
  auto s = save_small(options);
  EXPECT_TRUE(fs::exists(s->folder / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(s->folder / "model.safetensors"));
  auto loaded = load_checkpoint(s->folder);
  for (const auto& item : s->model->named_parameters()) {
    auto expected = item.value().to(torch::kFloat16).to(torch::kFloat32);
    EXPECT_TRUE(torch::equal(loaded.model->named_parameters()[item.key()], expected)) << item.key();
  }
}

TEST(Checkpoint, NewerTransformersWeightNamesLoad) {
  auto s = save_small();
  // Rewrite the weights under the names newer transformers releases use.
  std::vector<std::pair<std::string, torch::Tensor>> renamed;
  for (const auto& [name, tensor] : named_tensors(*s->model)) {
    std::string n = name;
    if (n.rfind("language_model.model.", 0) == 0) n = "model.language_model." + n.substr(21);
    else if (n == "language_model.lm_head.weight") n = "lm_head.weight";
    else n = "model." + n;
    renamed.emplace_back(n, tensor);
  }
  fs::remove(s->folder / "model.safetensors");
  save_weights(s->folder, renamed);
  auto loaded = load_checkpoint(s->folder);
  for (const auto& item : s->model->named_parameters()) {
    EXPECT_TRUE(torch::equal(loaded.model->named_parameters()[item.key()], item.value())) << item.key();
  }
}

TEST(Checkpoint, ShapeDisagreeingWithConfigNamesTheTensor) {
  auto s = save_small();
  auto j = read_json(s->folder / "config.json");
  j["text_config"]["intermediate_size"] = 28;
  write_json_atomic(s->folder / "config.json", j);
  try {
    load_checkpoint(s->folder);
    FAIL();
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mlp.gate_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[24, 16]"), std::string::npos) << msg;
  }
}

TEST(Checkpoint, MissingTensorIsNamed) {
  auto s = save_small();
  auto tensors = named_tensors(*s->model);
  tensors.erase(tensors.begin() + 3);
  const std::string removed = named_tensors(*s->model)[3].first;
  fs::remove(s->folder / "model.safetensors");
  save_weights(s->folder, tensors);
  try {
    load_checkpoint(s->folder);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(removed), std::string::npos) << e.what();
  }
}

// The convolutional stem is a privprobe extension of the config ("privprobe": {"vision_conv_stem"}):
// it survives a save and load bit for bit, and impossible stems are refused naming the key.
TEST(Checkpoint, ConvStemRoundTripsAndBadStemsAreRefused) {
  LlavaConfig config = tiny_reading_llava_config();
  EXPECT_EQ(config.vision.conv_stem, (std::vector<int>{32, 64}));
  EXPECT_TRUE(tiny_llava_config().vision.conv_stem.empty());
  EXPECT_TRUE(is_builtin_llava_config("tiny-reading"));
  EXPECT_FALSE(is_builtin_llava_config("configs/tiny-reading.json"));
  nlohmann::json j = llava_config_to_json(config);
  EXPECT_EQ(j["privprobe"]["vision_conv_stem"], nlohmann::json({32, 64}));
  EXPECT_FALSE(llava_config_to_json(tiny_llava_config())["privprobe"].contains("vision_conv_stem"));
  EXPECT_EQ(llava_config_from_json(j, "config.json").vision.conv_stem, config.vision.conv_stem);

  auto refused = [&](nlohmann::json stem) {
    nlohmann::json bad = j;
    bad["privprobe"]["vision_conv_stem"] = std::move(stem);
    try {
      llava_config_from_json(bad, "some/config.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const nlohmann::json& stem : {nlohmann::json({8, 8, 8, 8, 8}), nlohmann::json({0, 8}), nlohmann::json({8, -1}),
                                     nlohmann::json("wide")}) {
    const std::string message = refused(stem);
    EXPECT_NE(message.find("some/config.json"), std::string::npos) << stem.dump() << ": " << message;
    EXPECT_NE(message.find("vision_conv_stem"), std::string::npos) << stem.dump() << ": " << message;
  }
  // Patch 16 allows at most four halvings; patch 8 with five is refused above, 12 with three here.
  nlohmann::json odd = j;
  odd["vision_config"]["patch_size"] = 12;
  odd["vision_config"]["image_size"] = 120;
  odd["privprobe"]["vision_conv_stem"] = {8, 8, 8};
  EXPECT_THROW(llava_config_from_json(odd, "c.json"), ConfigError);

  // A model with a stem saves and loads bit-exactly, stem included.
  test::TempDir dir{"stem"};
  const fs::path tokenizer_file = write_tokenizer(dir.path());
  auto tokenizer = SentencePieceTokenizer::load(tokenizer_file);
  LlavaConfig small = small_config(tokenizer.vocab_size());
  small.vision.conv_stem = {4, 8};
  torch::manual_seed(3);
  LlavaForConditionalGeneration model(small);
  save_checkpoint(dir / "ckpt", model, small, tokenizer_file, tokenizer, ImageProcessorConfig::for_size(32), {}, {});
  auto loaded = load_checkpoint(dir / "ckpt");
  EXPECT_EQ(loaded.config.vision.conv_stem, small.vision.conv_stem);
  const auto restored = loaded.model->named_parameters();
  EXPECT_TRUE(restored.contains("vision_tower.vision_model.embeddings.conv_stem.1.weight"));
  for (const auto& item : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), restored[item.key()])) << item.key();
  }
}

TEST(Checkpoint, NotACheckpointIsAClearError) {
  test::TempDir dir;
  EXPECT_THROW(load_checkpoint(dir / "missing"), IoError);
  EXPECT_THROW(load_checkpoint(dir.path()), IoError);
  EXPECT_FALSE(is_checkpoint(dir.path()));
}

TEST(Checkpoint, OtherModelTypeIsRefused) {
  auto s = save_small();
  auto j = read_json(s->folder / "config.json");
  j["model_type"] = "qwen2_vl";
  write_json_atomic(s->folder / "config.json", j);
  try {
    load_checkpoint(s->folder);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2_vl"), std::string::npos);
  }
}

TEST(Checkpoint, ResaveReplacesAtomically) {
  auto s = save_small();
  auto tokenizer = SentencePieceTokenizer::load(s->tokenizer_file);
  save_checkpoint(s->folder, s->model, s->config, s->tokenizer_file, tokenizer, ImageProcessorConfig::for_size(32),
                  {{"seed", 4}});
  EXPECT_EQ(read_json(s->folder / "privprobe.json")["seed"], 4);
  for (const auto& e : fs::directory_iterator(s->dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(kTempMarker), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace privprobe
