// Writing: round trips of every dtype, deterministic and reference-identical bytes, the stream
// writer, and refusals of bad input that leave nothing behind.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/rng.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

std::string u64_le(std::uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
  return out;
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A tensor with its own bytes, kept alive for the TensorToWrite that points at them.
struct OwnedTensor {
  std::string name;
  Dtype dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
  TensorToWrite view() const { return TensorToWrite{name, dtype, shape, bytes.data(), bytes.size()}; }
};

OwnedTensor random_tensor(Rng& rng, std::string name, Dtype dtype, std::vector<std::int64_t> shape) {
  std::int64_t numel = 1;
  for (std::int64_t d : shape) numel *= d;
  std::string bytes(static_cast<std::size_t>(numel) * dtype_size(dtype), '\0');
  for (char& c : bytes) c = static_cast<char>(rng.below(256));
  if (dtype == Dtype::BOOL) {
    for (char& c : bytes) c = static_cast<char>(c & 1);
  }
  return OwnedTensor{std::move(name), dtype, std::move(shape), std::move(bytes)};
}

std::vector<TensorToWrite> views(const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorToWrite> out;
  for (const OwnedTensor& t : tensors) out.push_back(t.view());
  return out;
}

std::vector<OwnedTensor> every_dtype(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<OwnedTensor> tensors;
  tensors.push_back(random_tensor(rng, "f32.matrix", Dtype::F32, {3, 5}));
  tensors.push_back(random_tensor(rng, "f16.vector", Dtype::F16, {7}));
  tensors.push_back(random_tensor(rng, "bf16.cube", Dtype::BF16, {2, 3, 3}));
  tensors.push_back(random_tensor(rng, "i64.labels", Dtype::I64, {9}));
  tensors.push_back(random_tensor(rng, "i32.ids", Dtype::I32, {4, 1}));
  tensors.push_back(random_tensor(rng, "u8.bytes", Dtype::U8, {13}));
  tensors.push_back(random_tensor(rng, "bool.mask", Dtype::BOOL, {5}));
  tensors.push_back(random_tensor(rng, "f64.scalar", Dtype::F64, {}));
  tensors.push_back(random_tensor(rng, "i8.x", Dtype::I8, {3}));
  tensors.push_back(random_tensor(rng, "i16.x", Dtype::I16, {3}));
  tensors.push_back(random_tensor(rng, "u16.x", Dtype::U16, {1}));
  tensors.push_back(random_tensor(rng, "u32.x", Dtype::U32, {2}));
  tensors.push_back(random_tensor(rng, "u64.x", Dtype::U64, {1}));
  tensors.push_back(random_tensor(rng, "f8.x", Dtype::F8_E4M3, {3}));
  tensors.push_back(random_tensor(rng, "f8b.x", Dtype::F8_E5M2, {1}));
  tensors.push_back(random_tensor(rng, "empty.f32", Dtype::F32, {0, 4}));
  tensors.push_back(random_tensor(rng, "empty.bool", Dtype::BOOL, {2, 0}));
  tensors.push_back(random_tensor(rng, "scalar.i32", Dtype::I32, {}));
  return tensors;
}

void expect_same_tensors(const SafetensorsFile& file, const std::vector<OwnedTensor>& tensors) {
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (const OwnedTensor& t : tensors) {
    SCOPED_TRACE(t.name);
    const TensorInfo& info = file.at(t.name);
    EXPECT_EQ(info.dtype, t.dtype);
    EXPECT_EQ(info.shape, t.shape);
    const ByteView bytes = file.data(info);
    ASSERT_EQ(bytes.size, t.bytes.size());
    EXPECT_EQ(std::memcmp(bytes.data, t.bytes.data(), bytes.size), 0);
    EXPECT_TRUE(is_aligned(bytes, t.dtype));
  }
}

TEST(SafetensorsWrite, RoundTripsEveryDtypeScalarsAndEmptyTensors) {
  test::TempDir dir("st-write");
  const std::vector<OwnedTensor> tensors = every_dtype(1);
  const SafetensorsMetadata metadata{{"format", "pt"}, {"seed", "1"}, {"note", "é \"quoted\" \\ \n tab\t"}};
  write_safetensors(dir / "all.safetensors", views(tensors), metadata);
  const SafetensorsFile file(dir / "all.safetensors");
  expect_same_tensors(file, tensors);
  EXPECT_EQ(file.metadata(), metadata);
  EXPECT_EQ(read_file(dir / "all.safetensors"), serialize_safetensors(views(tensors), metadata));
}

TEST(SafetensorsWrite, UnusualNamesRoundTrip) {
  test::TempDir dir("st-names");
  Rng rng(2);
  const std::vector<OwnedTensor> tensors = {random_tensor(rng, "naïve/名前", Dtype::U8, {2}),
                                            random_tensor(rng, "quote\"back\\slash", Dtype::U8, {1}),
                                            random_tensor(rng, std::string("ctrl\x01\n"), Dtype::U8, {1}),
                                            random_tensor(rng, "__metadata", Dtype::U8, {1})};
  write_safetensors(dir / "n.safetensors", views(tensors));
  expect_same_tensors(SafetensorsFile(dir / "n.safetensors"), tensors);
}

TEST(SafetensorsWrite, BytesAreDeterministicWhateverTheInputOrder) {
  std::vector<OwnedTensor> tensors = every_dtype(3);
  const std::string first = serialize_safetensors(views(tensors), {{"b", "2"}, {"a", "1"}});
  std::reverse(tensors.begin(), tensors.end());
  EXPECT_EQ(serialize_safetensors(views(tensors), {{"a", "1"}, {"b", "2"}}), first);
  test::TempDir dir("st-det");
  write_safetensors(dir / "x.safetensors", views(tensors), {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(read_file(dir / "x.safetensors"), first);
}

TEST(SafetensorsWrite, LayoutFollowsTheReferenceOrderAndAlignment) {
  const std::vector<OwnedTensor> tensors = every_dtype(4);
  const std::vector<TensorInfo> layout = plan_safetensors_layout(views(tensors), "test");
  const std::vector<std::string> expected = {"u64.x",  "i64.labels", "f64.scalar", "empty.f32", "f32.matrix", "u32.x",
                                             "i32.ids", "scalar.i32", "bf16.cube", "f16.vector", "u16.x",     "i16.x",
                                             "f8.x",   "f8b.x",      "i8.x",       "u8.bytes",  "bool.mask",  "empty.bool"};
  ASSERT_EQ(layout.size(), expected.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(layout[i].name, expected[i]);
    EXPECT_EQ(layout[i].begin, offset);
    EXPECT_EQ(layout[i].begin % dtype_size(layout[i].dtype), 0u) << layout[i].name;
    offset = layout[i].end;
  }
  // The header is padded so that the data buffer starts at a multiple of 8.
  const std::string header = build_safetensors_header(layout, {}, "test");
  EXPECT_EQ(header.size() % 8, 0u);
  EXPECT_EQ(header.substr(0, 8), u64_le(header.size() - 8));
}

// The reference implementation's own serialization tests give these bytes; built here by hand.
TEST(SafetensorsWrite, MatchesTheReferenceSerializerByteForByte) {
  const std::string data = f32_bytes({0, 1, 2, 3, 4, 5});
  {
    const std::string json = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
    ASSERT_EQ(json.size(), 64u);  // already a multiple of 8: no padding
    const std::string expected = u64_le(64) + json + data;
    EXPECT_EQ(serialize_safetensors({{"attn.0", Dtype::F32, {1, 2, 3}, data.data(), data.size()}}), expected);
  }
  {
    const std::string json = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
    const std::string expected = u64_le(72) + json + std::string(72 - json.size(), ' ') + data;
    EXPECT_EQ(serialize_safetensors({{"attn0", Dtype::F32, {1, 1, 2, 3}, data.data(), data.size()}}), expected);
  }
  EXPECT_EQ(serialize_safetensors({}), u64_le(8) + "{}      ");
  EXPECT_EQ(serialize_safetensors({}, {{"framework", "pt"}}),
            u64_le(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
}

TEST(SafetensorsWrite, RefusesBadTensorsAndWritesNothing) {
  test::TempDir dir("st-refuse");
  const std::string four(4, 'x');
  const auto refuse = [&](const std::vector<TensorToWrite>& tensors, const std::string& part,
                          const SafetensorsMetadata& metadata = {}) {
    try {
      write_safetensors(dir / "bad.safetensors", tensors, metadata);
      ADD_FAILURE() << "accepted; expected an error containing '" << part << "'";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
  };
  refuse({{"w", Dtype::F32, {2}, four.data(), 4}}, "4 bytes given");
  refuse({{"w", Dtype::U8, {4}, four.data(), 4}, {"w", Dtype::U8, {4}, four.data(), 4}}, "given twice");
  refuse({{"__metadata__", Dtype::U8, {4}, four.data(), 4}}, "reserved");
  refuse({{"", Dtype::U8, {4}, four.data(), 4}}, "empty name");
  refuse({{"w", Dtype::U8, {-4}, four.data(), 4}}, "negative dimension");
  refuse({{"w", Dtype::U8, {4294967296, 4294967296, 2}, four.data(), 4}}, "overflows");
  refuse({{"w", Dtype::U8, {4}, nullptr, 4}}, "no data");
  refuse({{"bad\xff", Dtype::U8, {4}, four.data(), 4}}, "UTF-8");
  refuse({}, "UTF-8", {{"k", "\xc3"}});
  for (const auto& entry : fs::directory_iterator(dir.path())) ADD_FAILURE() << "left behind: " << entry.path();
}

TEST(SafetensorsStreamWriter, WritesTheSameBytesAsTheWholeFileWriter) {
  // Activations [N, L, D] written batch by batch, interleaved with per-sample labels.
  constexpr std::int64_t kSamples = 10, kLayers = 3, kWidth = 5;
  Rng rng(5);
  const OwnedTensor states = random_tensor(rng, "states", Dtype::F32, {kSamples, kLayers, kWidth});
  const OwnedTensor labels = random_tensor(rng, "labels", Dtype::I64, {kSamples});
  const OwnedTensor groups = random_tensor(rng, "groups", Dtype::I64, {kSamples});
  const SafetensorsMetadata metadata{{"model", "tiny"}};
  test::TempDir dir("st-stream");
  {
    SafetensorsStreamWriter writer(dir / "stream.safetensors", {{"states", Dtype::F32, states.shape},
                                                                {"labels", Dtype::I64, labels.shape},
                                                                {"groups", Dtype::I64, groups.shape}},
                                   metadata);
    const std::size_t row = kLayers * kWidth * 4;
    for (std::int64_t start = 0; start < kSamples; start += 4) {
      const std::int64_t count = std::min<std::int64_t>(4, kSamples - start);
      writer.append("labels", labels.bytes.data() + start * 8, static_cast<std::size_t>(count) * 8);
      writer.append("states", states.bytes.data() + start * row, static_cast<std::size_t>(count) * row);
    }
    writer.append("groups", groups.bytes.data(), groups.bytes.size());
    EXPECT_EQ(writer.remaining("states"), 0u);
    EXPECT_FALSE(fs::exists(dir / "stream.safetensors"));  // nothing under the final name before finish()
    writer.finish();
  }
  write_safetensors(dir / "whole.safetensors", {states.view(), labels.view(), groups.view()}, metadata);
  EXPECT_EQ(read_file(dir / "stream.safetensors"), read_file(dir / "whole.safetensors"));
  expect_same_tensors(SafetensorsFile(dir / "stream.safetensors"), {states, labels, groups});
}

TEST(SafetensorsStreamWriter, RefusesMissingExtraAndUnknownBytes) {
  test::TempDir dir("st-stream-bad");
  const std::string bytes(16, 'x');
  {
    SafetensorsStreamWriter writer(dir / "s.safetensors", {{"a", Dtype::F32, {2}}, {"b", Dtype::U8, {3}}});
    writer.append("a", bytes.data(), 8);
    writer.append("b", bytes.data(), 2);
    EXPECT_EQ(writer.remaining("b"), 1u);
    EXPECT_THROW(writer.append("b", bytes.data(), 2), DataError);  // one byte too many
    EXPECT_THROW(writer.append("c", bytes.data(), 1), DataError);  // never declared
    try {
      writer.finish();
      ADD_FAILURE() << "finish() accepted a missing byte";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("tensor 'b'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("only 2 of 3"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir / "s.safetensors"));
  for (const auto& entry : fs::directory_iterator(dir.path())) ADD_FAILURE() << "left behind: " << entry.path();

  SafetensorsStreamWriter writer(dir / "t.safetensors", {{"a", Dtype::U8, {1}}});
  writer.append("a", bytes.data(), 1);
  writer.finish();
  EXPECT_THROW(writer.append("a", bytes.data(), 0), DataError);
  EXPECT_THROW(writer.finish(), DataError);
  EXPECT_TRUE(fs::exists(dir / "t.safetensors"));
  EXPECT_THROW(SafetensorsStreamWriter(dir / "u.safetensors", {{"a", Dtype::U8, {1}}, {"a", Dtype::U8, {1}}}), DataError);
}

}  // namespace
}  // namespace privprobe
