// Sharded checkpoints in Hugging Face layout: the writer's split, reading through the index,
// and an index that disagrees with its shards.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/sharded_safetensors.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

struct Weights {
  std::vector<std::string> names;
  std::vector<std::string> bytes;
  std::vector<TensorToWrite> tensors() const {
    std::vector<TensorToWrite> out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      out.push_back({names[i], Dtype::F16, {static_cast<std::int64_t>(bytes[i].size() / 2)}, bytes[i].data(), bytes[i].size()});
    }
    return out;
  }
};

// Six F16 tensors of 40 bytes each (a llava-hf-like set of names).
Weights six_tensors() {
  Weights w;
  w.names = {"vision_tower.vision_model.embeddings.patch_embedding.weight",
             "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
             "multi_modal_projector.linear_1.weight",
             "language_model.model.embed_tokens.weight",
             "language_model.model.layers.0.mlp.gate_proj.weight",
             "language_model.lm_head.weight"};
  for (std::size_t i = 0; i < w.names.size(); ++i) w.bytes.emplace_back(40, static_cast<char>('a' + i));
  return w;
}

void expect_weights(const ShardedSafetensors& set, const Weights& w) {
  ASSERT_EQ(set.size(), w.names.size());
  for (std::size_t i = 0; i < w.names.size(); ++i) {
    const TensorRef ref = set.at(w.names[i]);
    EXPECT_EQ(ref.info->dtype, Dtype::F16);
    const ByteView bytes = ref.data();
    ASSERT_EQ(bytes.size, w.bytes[i].size());
    EXPECT_EQ(std::memcmp(bytes.data, w.bytes[i].data(), bytes.size), 0) << w.names[i];
  }
}

// Expects open_checkpoint_weights(folder) to throw E whose message holds each part.
template <typename E>
void expect_error(const fs::path& folder, const std::vector<std::string>& parts) {
  try {
    open_checkpoint_weights(folder);
    ADD_FAILURE() << "accepted; expected an error containing '" << parts.front() << "'";
  } catch (const E& e) {
    for (const std::string& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  } catch (const Error& e) {
    ADD_FAILURE() << "wrong error type: " << e.what();
  }
}

void edit_index(const fs::path& folder, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json index = read_json(folder / "model.safetensors.index.json");
  edit(index);
  write_json_atomic(folder / "model.safetensors.index.json", index);
}

TEST(ShardedSafetensors, RoundTripAcrossThreeShards) {
  test::TempDir dir("shards");
  const Weights w = six_tensors();
  const std::vector<std::string> written = write_sharded_safetensors(dir.path(), w.tensors(), 80, {{"seed", "7"}});
  const std::vector<std::string> expected = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
  EXPECT_EQ(written, expected);

  const nlohmann::json index = read_json(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 240);
  EXPECT_EQ(index["weight_map"].size(), 6u);
  EXPECT_EQ(index["weight_map"]["multi_modal_projector.linear_1.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["language_model.lm_head.weight"], "model-00003-of-00003.safetensors");

  const ShardedSafetensors set = open_checkpoint_weights(dir.path());
  EXPECT_TRUE(set.is_sharded());
  EXPECT_EQ(set.files().size(), 3u);
  EXPECT_EQ(set.index_metadata()["total_size"], 240);
  expect_weights(set, w);
  for (const SafetensorsFile& shard : set.files()) {
    EXPECT_EQ(shard.tensors().size(), 2u);
    EXPECT_EQ(shard.metadata().at("format"), "pt");  // added for transformers
    EXPECT_EQ(shard.metadata().at("seed"), "7");
  }
  EXPECT_FALSE(set.find("language_model.model.norm.weight"));
  EXPECT_THROW(set.at("language_model.model.norm.weight"), DataError);
  std::vector<std::string> sorted = w.names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(set.names(), sorted);
}

TEST(ShardedSafetensors, SplitKeepsOversizedTensorsAloneAndSmallSetsSingle) {
  test::TempDir dir("shards-split");
  const Weights w = six_tensors();
  EXPECT_EQ(write_sharded_safetensors(dir.path(), w.tensors(), 30).size(), 7u);  // every tensor alone + index
  const ShardedSafetensors six = open_checkpoint_weights(dir.path());
  EXPECT_EQ(six.files().size(), 6u);
  expect_weights(six, w);

  // Saving again small enough for one file replaces the shards and the index.
  EXPECT_EQ(write_sharded_safetensors(dir.path(), w.tensors(), 1000), std::vector<std::string>{"model.safetensors"});
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir.path())) left.push_back(entry.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"model.safetensors"});
  const ShardedSafetensors single = open_checkpoint_weights(dir.path());
  EXPECT_FALSE(single.is_sharded());
  expect_weights(single, w);

  // And back to shards: the single file goes, so it cannot shadow the index.
  write_sharded_safetensors(dir.path(), w.tensors(), 80);
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
  expect_weights(open_checkpoint_weights(dir.path()), w);
}

TEST(ShardedSafetensors, WriterRefusesBadInputBeforeWritingAnything) {
  test::TempDir dir("shards-refuse");
  Weights w = six_tensors();
  w.names[4] = w.names[0];  // the same name in two shards
  EXPECT_THROW(write_sharded_safetensors(dir.path(), w.tensors(), 80), DataError);
  EXPECT_THROW(write_sharded_safetensors(dir.path(), six_tensors().tensors(), 0), DataError);
  w = six_tensors();
  w.names[5] = "bad\xff";  // refused while writing the last shard's header, unless checked up front
  EXPECT_THROW(write_sharded_safetensors(dir.path(), w.tensors(), 80), DataError);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(ShardedSafetensors, MissingShardIsAnIoErrorNamingIndexAndShard) {
  test::TempDir dir("shards-missing");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  fs::remove(dir / "model-00002-of-00003.safetensors");
  expect_error<IoError>(dir.path(), {"model.safetensors.index.json", "'model-00002-of-00003.safetensors'", "does not exist"});
}

TEST(ShardedSafetensors, IndexNamingAMissingFileIsAnIoError) {
  test::TempDir dir("shards-typo");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  edit_index(dir.path(), [](nlohmann::json& index) {
    index["weight_map"]["language_model.lm_head.weight"] = "model-00003-of-00004.safetensors";
  });
  expect_error<IoError>(dir.path(), {"model.safetensors.index.json", "model-00003-of-00004.safetensors"});
}

TEST(ShardedSafetensors, TensorAbsentFromItsShardIsAFormatError) {
  test::TempDir dir("shards-absent");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  edit_index(dir.path(), [](nlohmann::json& index) {
    index["weight_map"]["language_model.model.norm.weight"] = "model-00001-of-00003.safetensors";
  });
  expect_error<FormatError>(dir.path(), {"model.safetensors.index.json", "'language_model.model.norm.weight'",
                                         "'model-00001-of-00003.safetensors'", "does not hold it"});
}

TEST(ShardedSafetensors, ShardHoldingATensorTheIndexPutsElsewhereIsAFormatError) {
  test::TempDir dir("shards-elsewhere");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  edit_index(dir.path(), [](nlohmann::json& index) { index["weight_map"].erase("language_model.lm_head.weight"); });
  expect_error<FormatError>(dir.path(), {"model-00003-of-00003.safetensors", "'language_model.lm_head.weight'",
                                         "does not list"});
}

TEST(ShardedSafetensors, ShardNamesMustBePlainFileNames) {
  test::TempDir dir("shards-escape");
  write_sharded_safetensors(dir / "ckpt", six_tensors().tensors(), 80);
  for (const std::string bad : {"../ckpt/model-00001-of-00003.safetensors", "sub/model.safetensors", "..", "",
                                "/etc/passwd", "a\\b.safetensors"}) {
    SCOPED_TRACE(bad);
    edit_index(dir / "ckpt", [&](nlohmann::json& index) { index["weight_map"]["language_model.lm_head.weight"] = bad; });
    expect_error<FormatError>(dir / "ckpt", {"model.safetensors.index.json", "not a plain file name"});
  }
}

TEST(ShardedSafetensors, MalformedIndexes) {
  test::TempDir dir("shards-index");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  const fs::path index = dir / "model.safetensors.index.json";
  test::write_text(index, "{\"weight_map\": {");
  expect_error<FormatError>(dir.path(), {"model.safetensors.index.json", "not valid JSON"});
  test::write_text(index, R"({"metadata": {}})");
  expect_error<FormatError>(dir.path(), {"missing field 'weight_map'"});
  test::write_text(index, R"({"weight_map": {}})");
  expect_error<FormatError>(dir.path(), {"lists no tensors"});
  test::write_text(index, R"({"weight_map": {"language_model.lm_head.weight": 3}})");
  expect_error<FormatError>(dir.path(), {"'language_model.lm_head.weight'", "must be a string"});
  test::write_text(index, R"({"weight_map": [], "metadata": {}})");
  expect_error<FormatError>(dir.path(), {"'weight_map' must be an object"});
  test::write_text(index, R"({"metadata": 1, "weight_map": {"a": "model-00001-of-00003.safetensors"}})");
  expect_error<FormatError>(dir.path(), {"'metadata' must be an object"});
  test::write_text(index, R"({"weight_map": {"a": "model-00001-of-00003.safetensors", "a": "model-00002-of-00003.safetensors"}})");
  expect_error<FormatError>(dir.path(), {"duplicate key 'a'", "inside 'weight_map'"});
}

TEST(ShardedSafetensors, ACorruptShardIsNamed) {
  test::TempDir dir("shards-corrupt");
  write_sharded_safetensors(dir.path(), six_tensors().tensors(), 80);
  const fs::path shard = dir / "model-00002-of-00003.safetensors";
  const std::string bytes = read_file(shard);
  test::write_text(shard, bytes.substr(0, bytes.size() - 1));
  expect_error<FormatError>(dir.path(), {"model-00002-of-00003.safetensors", "past the end of the data buffer"});
}

TEST(ShardedSafetensors, FolderWithoutWeightsIsAnIoError) {
  test::TempDir dir("shards-none");
  test::write_text(dir / "config.json", "{}");
  expect_error<IoError>(dir.path(), {"no model.safetensors or model.safetensors.index.json"});
  expect_error<IoError>(dir / "absent", {"does not exist"});
}

}  // namespace
}  // namespace privprobe
