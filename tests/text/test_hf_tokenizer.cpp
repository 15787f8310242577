// Hugging Face checkpoint folders: tokenizer.model plus added_tokens.json / tokenizer_config.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "support/test_support.h"
#include "text/hf_tokenizer.h"
#include "text/sentencepiece_model.h"
#include "util/error.h"

namespace privprobe {
namespace {

const std::string kSp = "\xE2\x96\x81";

// A Llama-like model: no user-defined symbols, so "<image>" can only come from added tokens.
int write_llama_like_model(const std::filesystem::path& folder) {
  BpeModelSpec spec;
  spec.user_defined_symbols = {};
  float score = 0.0f;
  for (const std::string& piece : std::vector<std::string>{kSp + "What", "at", "Wh", kSp + "USER", "ER", "US", kSp, "W", "h", "a", "t", "U", "S",
                                  "E", "R", ":", "?", "<", ">", "i", "m", "g", "e"}) {
    spec.pieces.emplace_back(piece, score);
    score -= 1.0f;
  }
  const SentencePieceModel model = build_bpe_model(spec);
  write_sentencepiece_model(folder / "tokenizer.model", model);
  return static_cast<int>(model.pieces.size());
}

template <typename E>
void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no error, expected one about '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HfTokenizer, ImageTokenComesFromAddedTokensJson) {
  test::TempDir dir("hf");
  const int size = write_llama_like_model(dir.path());
  test::write_text(dir / "added_tokens.json",
                   "{\"<image>\": " + std::to_string(size) + ", \"<pad>\": " + std::to_string(size + 1) + "}");
  const SentencePieceTokenizer tokenizer = load_hf_tokenizer(dir.path());
  const int image = tokenizer.require_id("<image>");
  EXPECT_EQ(image, size);
  EXPECT_EQ(tokenizer.vocab_size(), size + 2);
  EXPECT_EQ(tokenizer.model_size(), size);
  EXPECT_TRUE(tokenizer.legacy());

  const std::string prompt = "USER: <image>\nWhat?";
  const std::vector<int> ids = tokenizer.encode(prompt);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), image), 1);
  // Legacy: the text on each side is encoded on its own, each with its dummy prefix, as the
  // original LLaVA code and llava-hf's slow tokenizer do ("▁" then "<0x0A>" after the image).
  std::vector<int> expected = tokenizer.encode("USER: ");
  expected.push_back(image);
  const std::vector<int> tail = tokenizer.encode("\nWhat?");
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tokenizer.piece(ids[ids.size() - tail.size()]), kSp);
  EXPECT_EQ(tokenizer.decode(ids), prompt);
}

TEST(HfTokenizer, AddedTokensDecoderAndSettingsFromTokenizerConfig) {
  test::TempDir dir("hf");
  const int size = write_llama_like_model(dir.path());
  test::write_text(dir / "tokenizer_config.json", R"({
    "add_bos_token": true, "add_eos_token": false, "legacy": false,
    "tokenizer_class": "LlamaTokenizer",
    "bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false},
    "pad_token": "<pad>", "unk_token": "<unk>",
    "added_tokens_decoder": {
      "0": {"content": "<unk>", "lstrip": false, "normalized": false, "rstrip": false, "special": true},
      "1": {"content": "<s>", "special": true},
      "2": {"content": "</s>", "special": true},
      ")" + std::to_string(size) + R"(": {"content": "<image>", "lstrip": false, "rstrip": false, "special": true},
      ")" + std::to_string(size + 1) + R"(": {"content": "<pad>", "special": true}
    }})");
  const SentencePieceTokenizer tokenizer = load_hf_tokenizer(dir.path());
  EXPECT_FALSE(tokenizer.legacy());
  EXPECT_TRUE(tokenizer.add_bos_token());
  EXPECT_FALSE(tokenizer.add_eos_token());
  EXPECT_EQ(tokenizer.require_id("<image>"), size);
  EXPECT_EQ(tokenizer.pad_id(), size + 1);
  EXPECT_EQ(tokenizer.bos_id(), kSpmBosId);
  EXPECT_EQ(tokenizer.eos_id(), kSpmEosId);
  // Non-legacy: no "▁" after the image token.
  const std::vector<int> ids = tokenizer.encode("USER: <image>\nWhat?");
  const auto at = std::find(ids.begin(), ids.end(), size);
  ASSERT_NE(at, ids.end());
  ASSERT_NE(at + 1, ids.end());
  EXPECT_EQ(tokenizer.piece(*(at + 1)), "<0x0A>");
  EXPECT_EQ(tokenizer.decode(ids), "USER: <image>\nWhat?");
}

TEST(HfTokenizer, BothFilesMergeWhenTheyAgree) {
  test::TempDir dir("hf");
  const int size = write_llama_like_model(dir.path());
  test::write_text(dir / "added_tokens.json", "{\"<image>\": " + std::to_string(size) + "}");
  test::write_text(dir / "tokenizer_config.json",
                   R"({"added_tokens_decoder": {")" + std::to_string(size) + R"(": {"content": "<image>"}}})");
  EXPECT_EQ(load_hf_tokenizer(dir.path()).added_tokens().size(), 1u);
  test::write_text(dir / "tokenizer_config.json",
                   R"({"added_tokens_decoder": {")" + std::to_string(size) + R"(": {"content": "<video>"}}})");
  expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, "tokenizer_config.json");
}

TEST(HfTokenizer, TokenizerJsonOnlyIsRefusedByName) {
  test::TempDir dir("hf");
  test::write_text(dir / "tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}");
  expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, "tokenizer.json");
  expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, "not supported");
}

TEST(HfTokenizer, MissingTokenizerIsAnIoError) {
  test::TempDir dir("hf");
  expect_error<IoError>([&] { load_hf_tokenizer(dir.path()); }, "tokenizer.model");
}

TEST(HfTokenizer, BadConfigsAreRejectedNamingTheFile) {
  test::TempDir dir("hf");
  const int size = write_llama_like_model(dir.path());
  const auto config_error = [&](const std::string& config, const std::string& needle) {
    test::write_text(dir / "tokenizer_config.json", config);
    expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, needle);
    expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, "tokenizer_config.json");
  };
  config_error("{not json", "not valid JSON");
  config_error("[1, 2]", "expected a JSON object");
  config_error(R"({"tokenizer_class": "GPT2Tokenizer"})", "tokenizer_class 'GPT2Tokenizer' is not supported");
  config_error(R"({"legacy": "yes"})", "'legacy' must be true or false");
  config_error(R"({"added_tokens_decoder": {"x": {"content": "<image>"}}})", "key is not a token id");
  config_error(R"({"added_tokens_decoder": {"-3": {"content": "<image>"}}})", "key is not a token id");
  config_error(R"({"added_tokens_decoder": {"99999999999": {"content": "<image>"}}})", "key is not a token id");
  config_error(R"({"added_tokens_decoder": {"40000": {"contents": "<image>"}}})", "no string 'content'");
  config_error(R"({"added_tokens_decoder": {"1": {"content": "<image>"}}})", "disagrees with the model");
  config_error(R"({"pad_token": "<pad2>"})", "'pad_token' names '<pad2>'");
  config_error(R"({"bos_token": 5})", "'bos_token' must be a token string");
  std::filesystem::remove(dir / "tokenizer_config.json");

  const auto added_error = [&](const std::string& json, const std::string& needle) {
    test::write_text(dir / "added_tokens.json", json);
    expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, needle);
    expect_error<FormatError>([&] { load_hf_tokenizer(dir.path()); }, "added_tokens.json");
  };
  added_error("{\"<image>\": \"32000\"}", "non-negative integer id");
  added_error("{\"<image>\": -1}", "non-negative integer id");
  added_error("{\"<image>\": " + std::to_string(size) + ", \"<video>\": " + std::to_string(size) + "}", "reuses the id");
  added_error("[]", "expected a JSON object");
}

TEST(HfTokenizer, TokenizerWithoutImageTokenSaysSo) {
  test::TempDir dir("hf");
  write_llama_like_model(dir.path());
  const SentencePieceTokenizer tokenizer = load_hf_tokenizer(dir.path());
  expect_error<DataError>([&] { tokenizer.require_id("<image>"); }, "no token '<image>'");
}

}  // namespace
}  // namespace privprobe
