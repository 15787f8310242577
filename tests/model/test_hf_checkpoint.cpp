// Checkpoints as Hugging Face publishes them (llava-1.5-7b-hf layout, tiny shapes): sharded F16 and
// BF16 weights under both naming layouts, a tokenizer.model without "<image>" plus the files that
// add it, preprocessor and generation configs, and no privprobe.json. Each loads and runs; each bad
// variant is refused with a message naming the file or tensor at fault.
#include <gtest/gtest.h>

#include <functional>

#include "io/sharded_safetensors.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "support/test_support.h"
#include "text/sentencepiece_model.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

using test::error_of;

enum class Layout { kOlder, kNewer };  // language_model.model.* vs model.language_model.* (weights.h)
enum class ImageTokenSource { kAddedTokensJson, kTokenizerConfig, kNone };

// A Llama-like tokenizer.model: no user-defined symbols, so "<image>" can only come from the added
// tokens, with the first id past the SentencePiece vocabulary (32000 in llava-1.5-hf).
int write_llama_tokenizer(const fs::path& folder) {
  BpeModelSpec spec;
  spec.user_defined_symbols = {};
  float score = 0.0f;
  for (const char* piece : {"\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a"}) {
    spec.pieces.emplace_back(piece, score);
    score -= 1.0f;
  }
  const SentencePieceModel model = build_bpe_model(spec);
  write_sentencepiece_model(folder / "tokenizer.model", model);
  return static_cast<int>(model.pieces.size());
}

LlavaConfig hf_config(int sentencepiece_size) {
  LlavaConfig c = tiny_llava_config();
  c.vision.hidden_size = 16;
  c.vision.intermediate_size = 32;
  c.vision.num_hidden_layers = 3;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 32;
  c.vision.patch_size = 16;
  c.vision_feature_layer = -2;  // llava-1.5's choice
  c.text.hidden_size = 16;
  c.text.intermediate_size = 24;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 2;
  c.text.num_key_value_heads = 2;
  c.text.head_dim = 8;
  // As llava-1.5-hf: the embedding table is padded past the added tokens (32064 for 32002).
  c.image_token_index = sentencepiece_size;
  c.text.vocab_size = sentencepiece_size + 8;
  c.text.pad_token_id = sentencepiece_size + 1;
  c.pad_token_id = sentencepiece_size + 1;
  return c;
}

std::vector<std::pair<std::string, torch::Tensor>> rename(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                                          Layout layout) {
  if (layout == Layout::kOlder) return tensors;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, tensor] : tensors) {
    std::string n = name;
    if (n.rfind("language_model.model.", 0) == 0) n = "model.language_model." + n.substr(21);
    else if (n == "language_model.lm_head.weight") n = "lm_head.weight";
    else n = "model." + n;
    out.emplace_back(n, tensor);
  }
  return out;
}

struct HfFolder {
  test::TempDir dir{"hf-ckpt"};
  fs::path folder;
  LlavaConfig config;
  LlavaForConditionalGeneration original{nullptr};  // float32, the source of the saved weights
};

struct HfOptions {
  torch::Dtype dtype = torch::kBFloat16;
  Layout layout = Layout::kOlder;
  ImageTokenSource image_token = ImageTokenSource::kAddedTokensJson;
};

std::unique_ptr<HfFolder> write_hf_folder(const HfOptions& options = {}) {
  auto f = std::make_unique<HfFolder>();
  f->folder = f->dir / "llava-tiny-hf";
  fs::create_directories(f->folder);
  const int size = write_llama_tokenizer(f->folder);
  f->config = hf_config(size);
  torch::manual_seed(11);
  f->original = LlavaForConditionalGeneration(f->config);
  // Small shards, so that every test reads a real index and several files.
  save_weights(f->folder, rename(named_tensors(*f->original), options.layout), options.dtype, /*max_shard_bytes=*/8192);

  json config = llava_config_to_json(f->config);
  config.erase("privprobe");
  config["torch_dtype"] = options.dtype == torch::kFloat16 ? "float16" : "bfloat16";
  write_json_atomic(f->folder / "config.json", config);
  const std::string image = std::to_string(size), pad = std::to_string(size + 1);
  if (options.image_token == ImageTokenSource::kAddedTokensJson) {
    test::write_text(f->folder / "added_tokens.json", "{\"<image>\": " + image + ", \"<pad>\": " + pad + "}");
  } else if (options.image_token == ImageTokenSource::kTokenizerConfig) {
    test::write_text(f->folder / "tokenizer_config.json",
                     "{\"tokenizer_class\": \"LlamaTokenizer\", \"legacy\": false, \"pad_token\": \"<pad>\",\n"
                     " \"added_tokens_decoder\": {\"" + image + "\": {\"content\": \"<image>\", \"special\": true},\n"
                     "                          \"" + pad + "\": {\"content\": \"<pad>\", \"special\": true}}}");
  }
  test::write_text(f->folder / "preprocessor_config.json",
                   R"({"image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": {"shortest_edge": 32},
                       "resample": 3, "do_center_crop": true, "crop_size": {"height": 32, "width": 32},
                       "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
                       "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
                       "do_convert_rgb": true})");
  test::write_text(f->folder / "generation_config.json", R"({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": )" + pad + "}");
  return f;
}

// "<s> a <image>x P b" with pixels: one image, as the processor expands it.
LlavaBatch image_batch(const LlavaConfig& config) {
  std::vector<int64_t> ids = {1, 5};
  for (int i = 0; i < config.image_tokens(); ++i) ids.push_back(config.image_token_index);
  ids.insert(ids.end(), {6, 7, 2});
  LlavaBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  batch.attention_mask = torch::ones_like(batch.input_ids);
  torch::manual_seed(5);
  batch.pixel_values = torch::randn({1, 3, config.vision.image_size, config.vision.image_size});
  return batch;
}

torch::Tensor logits_of(LlavaForConditionalGeneration& model, LlavaBatch batch, torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  model->eval();
  batch.pixel_values = batch.pixel_values.to(dtype);
  ForwardOptions options;
  options.logits = true;
  return model->forward(batch, options).logits.to(torch::kFloat32);
}

// Every language hidden state at the last position: [1, L + 1, D] float32.
torch::Tensor states_of(LlavaForConditionalGeneration& model, LlavaBatch batch, torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  model->eval();
  batch.pixel_values = batch.pixel_values.to(dtype);
  ForwardOptions options;
  options.capture_weights = torch::zeros(batch.input_ids.sizes(), torch::kFloat32);
  options.capture_weights.select(1, batch.input_ids.size(1) - 1).fill_(1.0);
  return model->forward(batch, options).states.to(torch::kFloat32);
}

// max |a - b| / max |b|: one number per comparison, robust to logits near zero.
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

#define EXPECT_MENTIONS(message, needle) \
  EXPECT_NE((message).find(needle), std::string::npos) << "'" << (needle) << "' not in: " << (message)

TEST(HfCheckpoint, ShardedHalfPrecisionLoadsAndRunsInBothLayouts) {
  for (const torch::Dtype dtype : {torch::kFloat16, torch::kBFloat16}) {
    for (const Layout layout : {Layout::kOlder, Layout::kNewer}) {
      SCOPED_TRACE(std::string(dtype == torch::kFloat16 ? "F16" : "BF16") + (layout == Layout::kOlder ? " older" : " newer"));
      HfOptions options;
      options.dtype = dtype;
      options.layout = layout;
      auto f = write_hf_folder(options);
      ASSERT_TRUE(fs::exists(f->folder / std::string(kSafetensorsIndexFileName)));
      ASSERT_FALSE(fs::exists(f->folder / std::string(kSafetensorsSingleFileName)));
      ASSERT_GT(ShardedSafetensors::open_index(f->folder / std::string(kSafetensorsIndexFileName)).files().size(), 2u);

      LoadedCheckpoint ck = load_checkpoint(f->folder);
      EXPECT_EQ(ck.config.template_name, "llava_hf");  // no privprobe.json: the model card's template
      EXPECT_TRUE(ck.provenance.empty());
      EXPECT_EQ(ck.image_processor.shortest_edge, 32);
      // Every weight is the original rounded to the file's dtype, exactly.
      auto loaded = ck.model->named_parameters();
      for (const auto& item : f->original->named_parameters()) {
        EXPECT_TRUE(torch::equal(loaded[item.key()], item.value().to(dtype).to(torch::kFloat32))) << item.key();
      }
      const LlavaBatch batch = image_batch(f->config);
      const torch::Tensor reference = logits_of(f->original, batch, torch::kFloat32);
      const torch::Tensor logits = logits_of(ck.model, batch, torch::kFloat32);
      ASSERT_TRUE(torch::isfinite(logits).all().item<bool>());
      // Weights rounded to 8 (BF16) or 11 (F16) significant bits, computed in float32.
      EXPECT_LT(relative_error(logits, reference), dtype == torch::kFloat16 ? 2e-3 : 2e-2);

      // The same folder computed in bf16 (--dtype bf16; f16 arithmetic is CUDA-only in libtorch 1.13).
      CheckpointLoadOptions half;
      half.dtype = torch::kBFloat16;
      LoadedCheckpoint ck_half = load_checkpoint(f->folder, half);
      for (const auto& item : ck_half.model->named_parameters()) {
        EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
      }
      const torch::Tensor half_logits = logits_of(ck_half.model, batch, torch::kBFloat16);
      ASSERT_TRUE(torch::isfinite(half_logits).all().item<bool>());
      EXPECT_LT(relative_error(half_logits, reference), 1e-1);
      // Hidden-state capture (what extract reads) in bf16, against float32.
      const torch::Tensor states = states_of(ck_half.model, batch, torch::kBFloat16);
      const torch::Tensor reference_states = states_of(f->original, batch, torch::kFloat32);
      ASSERT_EQ(states.sizes(), reference_states.sizes());
      EXPECT_LT(relative_error(states, reference_states), 1e-1);
    }
  }
}

TEST(HfCheckpoint, ImageTokenFromAddedTokensJsonPastTheSentencePieceVocabulary) {
  auto f = write_hf_folder();
  LoadedCheckpoint ck = load_checkpoint(f->folder);
  EXPECT_EQ(ck.tokenizer.model_size(), f->config.image_token_index);
  EXPECT_EQ(ck.tokenizer.require_id("<image>"), f->config.image_token_index);
  EXPECT_EQ(ck.tokenizer.piece(f->config.image_token_index), "<image>");
  const std::vector<int> ids = ck.tokenizer.encode("a <image>\nb");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), f->config.image_token_index), 1);
}

TEST(HfCheckpoint, ImageTokenFromTokenizerConfigAddedTokensDecoder) {
  HfOptions options;
  options.image_token = ImageTokenSource::kTokenizerConfig;
  auto f = write_hf_folder(options);
  ASSERT_FALSE(fs::exists(f->folder / "added_tokens.json"));
  LoadedCheckpoint ck = load_checkpoint(f->folder);
  EXPECT_EQ(ck.tokenizer.require_id("<image>"), f->config.image_token_index);
  EXPECT_EQ(ck.tokenizer.pad_id(), f->config.image_token_index + 1);
  EXPECT_FALSE(ck.tokenizer.legacy());
  const LlavaBatch batch = image_batch(f->config);
  EXPECT_TRUE(torch::isfinite(logits_of(ck.model, batch, torch::kFloat32)).all().item<bool>());
}

TEST(HfCheckpoint, TokenizerWithoutTheImageTokenIsRefused) {
  HfOptions options;
  options.image_token = ImageTokenSource::kNone;
  auto f = write_hf_folder(options);
  const std::string message = error_of<FormatError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, (f->folder / "tokenizer.model").string());
  EXPECT_MENTIONS(message, "<image>");
  EXPECT_MENTIONS(message, "added_tokens.json");
}

TEST(HfCheckpoint, ImageTokenAtAnotherIdThanTheConfigIsRefused) {
  auto f = write_hf_folder();
  auto config = read_json(f->folder / "config.json");
  config["image_token_index"] = f->config.image_token_index + 2;
  write_json_atomic(f->folder / "config.json", config);
  const std::string message = error_of<FormatError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, "config.json");
  EXPECT_MENTIONS(message, "image_token_index");
  EXPECT_MENTIONS(message, std::to_string(f->config.image_token_index));
}

TEST(HfCheckpoint, MissingShardNamesIndexAndShard) {
  auto f = write_hf_folder();
  const fs::path shard = f->folder / shard_file_name(2, ShardedSafetensors::open_index(f->folder / std::string(kSafetensorsIndexFileName)).files().size());
  ASSERT_TRUE(fs::exists(shard));
  fs::remove(shard);
  const std::string message = error_of<IoError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, shard.filename().string());
  EXPECT_MENTIONS(message, std::string(kSafetensorsIndexFileName));
}

TEST(HfCheckpoint, IndexNamingAMissingFileIsRefused) {
  auto f = write_hf_folder();
  const fs::path index_path = f->folder / std::string(kSafetensorsIndexFileName);
  auto index = read_json(index_path);
  index["weight_map"]["language_model.model.norm.weight"] = "model-00099-of-00099.safetensors";
  write_json_atomic(index_path, index);
  const std::string message = error_of<IoError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, "model-00099-of-00099.safetensors");
  EXPECT_MENTIONS(message, std::string(kSafetensorsIndexFileName));
}

// Rewrites the weights as one file in which `name` is stored as `dtype` (F64, I8, ...).
void store_one_tensor_as(const HfFolder& f, const std::string& name, Dtype dtype) {
  for (const auto& entry : fs::directory_iterator(f.folder)) {
    if (entry.path().filename().string().rfind("model", 0) == 0) fs::remove(entry.path());
  }
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& [tensor_name, tensor] : named_tensors(*f.original)) {
    torch::Tensor t = tensor.detach().contiguous();
    Dtype file_dtype = Dtype::BF16;
    if (tensor_name == name) {
      t = dtype == Dtype::F64 ? t.to(torch::kFloat64) : t.mul(100).round().to(torch::kInt8);
      file_dtype = dtype;
    } else {
      t = t.to(torch::kBFloat16);
    }
    keep.push_back(t);
    tensors.push_back({tensor_name, file_dtype, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                       static_cast<std::size_t>(t.numel()) * t.element_size()});
  }
  write_sharded_safetensors(f.folder, tensors, /*max_shard_bytes=*/1ULL << 30);
}

TEST(HfCheckpoint, UnsupportedWeightDtypesAreRefusedByTensor) {
  for (const Dtype dtype : {Dtype::F64, Dtype::I8}) {
    auto f = write_hf_folder();
    const std::string name = "language_model.model.layers.1.mlp.up_proj.weight";
    store_one_tensor_as(*f, name, dtype);
    const std::string message = error_of<FormatError>([&] { load_checkpoint(f->folder); });
    EXPECT_MENTIONS(message, name);
    EXPECT_MENTIONS(message, std::string(dtype_name(dtype)));
    EXPECT_MENTIONS(message, (f->folder / "model.safetensors").string());
  }
}

TEST(HfCheckpoint, ShapeDisagreeingWithConfigNamesShardAndTensor) {
  auto f = write_hf_folder();
  auto config = read_json(f->folder / "config.json");
  config["vision_config"]["intermediate_size"] = 40;
  write_json_atomic(f->folder / "config.json", config);
  const std::string message = error_of<FormatError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, "mlp.fc1.weight");
  EXPECT_MENTIONS(message, "[32, 16]");
  EXPECT_MENTIONS(message, "[40, 16]");
  EXPECT_MENTIONS(message, ".safetensors");
}

TEST(HfCheckpoint, OtherModelTypesAreRefusedNamingTheField) {
  struct Case {
    std::function<void(json&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j["model_type"] = "llava_next"; }, "llava_next"},
      {[](json& j) { j["text_config"]["model_type"] = "mistral"; }, "text_config.model_type"},
      {[](json& j) { j["vision_config"]["model_type"] = "siglip_vision_model"; }, "vision_config.model_type"},
  };
  for (const auto& c : cases) {
    auto f = write_hf_folder();
    auto config = read_json(f->folder / "config.json");
    c.edit(config);
    write_json_atomic(f->folder / "config.json", config);
    const std::string message = error_of<ConfigError>([&] { load_checkpoint(f->folder); });
    EXPECT_MENTIONS(message, (f->folder / "config.json").string());
    EXPECT_MENTIONS(message, c.field);
  }
}

TEST(HfCheckpoint, TokenizerShippedOnlyAsTokenizerJsonIsRefusedByName) {
  auto f = write_hf_folder();
  fs::remove(f->folder / "tokenizer.model");
  test::write_text(f->folder / "tokenizer.json", R"({"version": "1.0", "model": {"type": "BPE"}})");
  const std::string message = error_of<FormatError>([&] { load_checkpoint(f->folder); });
  EXPECT_MENTIONS(message, (f->folder / "tokenizer.json").string());
  EXPECT_MENTIONS(message, "tokenizer.model");
}

}  // namespace
}  // namespace privprobe
