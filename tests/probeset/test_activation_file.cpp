// Activation files of extract: --shard parsing and batch-aligned ranges, the streamed metadata, and
// merge (joins exact shards; refuses anything that is not every shard of one run, naming the file).
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "probeset/activation_file.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

TEST(ShardSpec, ParsesOneBasedIndexAndRefusesTheRest) {
  EXPECT_FALSE(ShardSpec::parse("").active());
  const ShardSpec s = ShardSpec::parse("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.to_string(), "2/5");
  EXPECT_TRUE(ShardSpec::parse("1/1").active());
  for (const char* bad : {"0/4", "5/4", "1/0", "a/4", "1/", "/4", "1/4x", "-1/4", "1-4", "3", "1/99999999999"}) {
    EXPECT_THROW(ShardSpec::parse(bad), ConfigError) << bad;
  }
}

TEST(ShardSpec, RangesAreBatchAlignedAndCoverEverySample) {
  // 10 samples in batches of 3: batches [0,3) [3,6) [6,9) [9,10).
  EXPECT_EQ(shard_range({}, 10, 3).begin, 0);
  EXPECT_EQ(shard_range({}, 10, 3).end, 10);
  for (int count = 1; count <= 4; ++count) {
    std::int64_t next = 0;
    for (int i = 1; i <= count; ++i) {
      const SampleRange r = shard_range(ShardSpec{i, count}, 10, 3);
      EXPECT_EQ(r.begin, next);
      EXPECT_EQ(r.begin % 3, 0);
      EXPECT_GT(r.size(), 0);
      next = r.end;
    }
    EXPECT_EQ(next, 10);
  }
  EXPECT_THROW(shard_range(ShardSpec{1, 5}, 10, 3), ConfigError);
}

TEST(ActivationMetadata, StreamsValidJsonWithSamplesLast) {
  test::TempDir dir("acts");
  const fs::path path = activation_metadata_path(dir / "a.safetensors");
  EXPECT_EQ(path.filename(), "a.json");
  const json header = {{"question", "q?"}, {"format_version", 1}};
  {
    ActivationMetadataWriter w(path, header);
    w.add_sample({{"index", 0}});
    w.add_sample({{"index", 1}, {"input_ids", {1, 2}}});
    EXPECT_FALSE(fs::exists(path));  // atomic: nothing before finish()
    w.finish();
  }
  const json j = read_json(path);
  EXPECT_EQ(j["question"], "q?");
  EXPECT_EQ(j["samples"].size(), 2u);
  EXPECT_EQ(j["samples"][1]["input_ids"][1], 2);
  ActivationMetadataWriter empty(dir / "e.json", json::object());
  empty.finish();
  EXPECT_EQ(read_json(dir / "e.json")["samples"], json::array());
}

// Shards written as extract writes them: states [n, 2, 3] holding the global sample index.
class Merge : public ::testing::Test {
 protected:
  json header(int index, int count, std::int64_t begin, std::int64_t end) const {
    return {{"format_version", 1},  {"question", "What is the username?"}, {"checkpoint", "/ck" + std::to_string(index)},
            {"samples_total", 7}, {"batch_size", 2}, {"shard", {{"index", index}, {"count", count}, {"begin", begin}, {"end", end}}}};
  }
  fs::path write_shard(const std::string& name, json head, std::int64_t begin, std::int64_t end) const {
    const fs::path path = dir / name;
    const std::int64_t n = end - begin;
    std::vector<float> states;
    std::vector<std::int64_t> labels;
    for (std::int64_t i = begin; i < end; ++i) {
      for (int k = 0; k < 6; ++k) states.push_back(static_cast<float>(i * 10 + k));
      labels.push_back(i % 2);
    }
    write_safetensors(path, {{"states", Dtype::F32, {n, 2, 3}, states.data(), states.size() * 4},
                             {"labels", Dtype::I64, {n}, labels.data(), labels.size() * 8}});
    ActivationMetadataWriter meta(activation_metadata_path(path), head);
    for (std::int64_t i = begin; i < end; ++i) meta.add_sample({{"index", i}});
    meta.finish();
    return path;
  }
  std::vector<fs::path> three_shards() const {
    return {write_shard("s1.safetensors", header(1, 3, 0, 2), 0, 2), write_shard("s2.safetensors", header(2, 3, 2, 6), 2, 6),
            write_shard("s3.safetensors", header(3, 3, 6, 7), 6, 7)};
  }
  template <typename E>
  std::string expect_error(const MergeConfig& config) const {
    try {
      run_merge(config);
    } catch (const E& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong error type: " << e.what();
      return {};
    }
    ADD_FAILURE() << "merged what it should have refused";
    return {};
  }
  test::TempDir dir{"merge"};
};

TEST_F(Merge, JoinsShardsGivenInAnyOrder) {
  auto shards = three_shards();
  std::swap(shards[0], shards[2]);
  const MergeResult r = run_merge({dir / "all.safetensors", shards});
  EXPECT_EQ(r.samples, 7);
  EXPECT_EQ(r.shards, 3u);
  // The same bytes as the unsharded file would have.
  const fs::path whole = write_shard("whole.safetensors", [&] {
    json h = header(1, 1, 0, 7);
    h.erase("shard");
    h["checkpoint"] = "/ck1";
    return h;
  }(), 0, 7);
  EXPECT_EQ(read_file(dir / "all.safetensors"), read_file(whole));
  EXPECT_EQ(read_file(dir / "all.json"), read_file(activation_metadata_path(whole)));
  SafetensorsFile merged(dir / "all.safetensors");
  EXPECT_EQ(merged.at("states").shape, (std::vector<std::int64_t>{7, 2, 3}));
}

TEST_F(Merge, RefusesWhatIsNotEveryShardOfOneRun) {
  const auto shards = three_shards();
  // A shard missing.
  std::string msg = expect_error<DataError>({dir / "o.safetensors", {shards[0], shards[1]}});
  EXPECT_NE(msg.find("shard 1 of 3, but 2 shards"), std::string::npos) << msg;
  // A shard twice.
  expect_error<DataError>({dir / "o.safetensors", {shards[0], shards[1], shards[1]}});
  // A shard of another run (different question).
  json other = header(2, 3, 2, 6);
  other["question"] = "Who?";
  const fs::path foreign = write_shard("f2.safetensors", other, 2, 6);
  msg = expect_error<DataError>({dir / "o.safetensors", {shards[0], foreign, shards[2]}});
  EXPECT_NE(msg.find("f2.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("question"), std::string::npos) << msg;
  // Ranges that do not follow one another.
  const fs::path gap = write_shard("g2.safetensors", header(2, 3, 3, 6), 3, 6);
  expect_error<DataError>({dir / "o.safetensors", {shards[0], gap, shards[2]}});
  // Not a shard at all.
  json plain = header(1, 1, 0, 7);
  plain.erase("shard");
  const fs::path whole = write_shard("w.safetensors", plain, 0, 7);
  EXPECT_NE(expect_error<DataError>({dir / "o.safetensors", {whole}}).find("not a shard"), std::string::npos);
  // Tensors that disagree with the metadata's range.
  const fs::path short_shard = write_shard("short.safetensors", header(2, 3, 2, 6), 2, 5);
  expect_error<DataError>({dir / "o.safetensors", {shards[0], short_shard, shards[2]}});
  // Missing metadata, missing file, malformed file.
  fs::copy_file(shards[1], dir / "lonely.safetensors");
  expect_error<IoError>({dir / "o.safetensors", {shards[0], dir / "lonely.safetensors", shards[2]}});
  expect_error<IoError>({dir / "o.safetensors", {shards[0], dir / "absent.safetensors", shards[2]}});
  test::write_text(dir / "junk.safetensors", "not a tensor file");
  test::write_text(dir / "junk.json", "{}");
  expect_error<FormatError>({dir / "o.safetensors", {dir / "junk.safetensors"}});
  // Usage.
  expect_error<ConfigError>({dir / "o.safetensors", {}});
  expect_error<ConfigError>({shards[0], shards});
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
}

}  // namespace
}  // namespace privprobe
