// Reading: a file built byte by byte from the format description, and every malformed case
// rejected with its reason and the file (and tensor) named.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "io/safetensors.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

std::string u64_le(std::uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
  return out;
}

// A file image: length prefix, header text exactly as given, data.
std::string file_bytes(const std::string& header, const std::string& data) { return u64_le(header.size()) + header + data; }

fs::path write_file(const test::TempDir& dir, const std::string& bytes, const std::string& name = "t.safetensors") {
  const fs::path path = dir / name;
  test::write_text(path, bytes);
  return path;
}

// Expects opening the file to throw FormatError whose message names the file and holds each part.
void expect_format_error(const std::string& bytes, const std::vector<std::string>& parts) {
  test::TempDir dir("st-bad");
  const fs::path path = write_file(dir, bytes);
  try {
    SafetensorsFile file(path);
    ADD_FAILURE() << "accepted a malformed file; expected an error containing '" << parts.front() << "'";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "errors are one line";
  }
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

TEST(SafetensorsRead, GoldenBytesBuiltByHand) {
  // An I32 [2, 2] and a BF16 scalar, metadata, header padded with spaces to a multiple of 8, then
  // the data buffer: 16 bytes of little-endian int32, 2 bytes of bfloat16 (1.0 = 0x3f80).
  std::string header =
      R"({"__metadata__":{"format":"pt"},"m":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("s":{"dtype":"BF16","shape":[],"data_offsets":[16,18]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string data = std::string("\x01\x00\x00\x00" "\xfe\xff\xff\xff" "\x03\x00\x00\x00" "\xff\xff\xff\x7f", 16) +
                           std::string("\x80\x3f", 2);
  const std::string bytes = file_bytes(header, data);
  ASSERT_EQ(bytes.size(), 8 + header.size() + 18);

  test::TempDir dir("st-golden");
  const SafetensorsFile file(write_file(dir, bytes));
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.metadata(), (SafetensorsMetadata{{"format", "pt"}}));
  EXPECT_EQ(file.header().data_offset, 8 + header.size());
  EXPECT_EQ(file.header().data_size, 18u);

  const TensorInfo& m = file.tensors()[0];
  EXPECT_EQ(m.name, "m");
  EXPECT_EQ(m.dtype, Dtype::I32);
  EXPECT_EQ(m.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(m.numel(), 4);
  const ByteView view = file.data(m);
  ASSERT_EQ(view.size, 16u);
  EXPECT_TRUE(is_aligned(view, Dtype::I32));
  std::int32_t values[4];
  std::memcpy(values, view.data, 16);
  EXPECT_EQ(values[0], 1);
  EXPECT_EQ(values[1], -2);
  EXPECT_EQ(values[2], 3);
  EXPECT_EQ(values[3], 2147483647);

  const TensorInfo& s = file.at("s");
  EXPECT_EQ(s.dtype, Dtype::BF16);
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.numel(), 1);
  const ByteView scalar = file.data("s");
  ASSERT_EQ(scalar.size, 2u);
  EXPECT_EQ(scalar.data[0], 0x80);
  EXPECT_EQ(scalar.data[1], 0x3f);

  EXPECT_EQ(file.find("missing"), nullptr);
  try {
    file.at("missing");
    ADD_FAILURE() << "at() of a missing tensor must throw";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'missing'"), std::string::npos);
  }
}

TEST(SafetensorsRead, AcceptsWhatTheFormatAllows) {
  test::TempDir dir("st-ok");
  // No tensors at all (the reference writes this for an empty dict).
  EXPECT_TRUE(SafetensorsFile(write_file(dir, file_bytes("{}      ", ""), "empty.safetensors")).tensors().empty());
  // Tensors listed out of data order, a zero-size tensor, leading whitespace, extra entry fields.
  const std::string header = " {" + entry("b", "U8", "[2]", "[2,4]") + "," + entry("z", "F32", "[0,3]", "[2,2]") + "," +
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"extra\":1}}";
  const SafetensorsFile file(write_file(dir, file_bytes(header, "abcd")));
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "b");  // header order is kept
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data("a").data), 2), "ab");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data("b").data), 2), "cd");
  EXPECT_EQ(file.data("z").size, 0u);
  EXPECT_EQ(file.at("z").numel(), 0);
}

TEST(SafetensorsRead, UnpaddedHeadersGiveMisalignedViews) {
  // Other writers may skip the padding: the file is valid, but an F32 view then starts at an odd
  // address and must be copied before use as float*.
  test::TempDir dir("st-align");
  const std::string header = "{" + entry("w", "F32", "[1]", "[0,4]") + "}";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  const SafetensorsFile file(write_file(dir, file_bytes(header, std::string(4, 'x'))));
  EXPECT_FALSE(is_aligned(file.data("w"), Dtype::F32));
  EXPECT_TRUE(is_aligned(file.data("w"), Dtype::U8));
}

TEST(SafetensorsRead, CopyOnWriteMappingNeverChangesTheFile) {
  test::TempDir dir("st-cow");
  const std::string bytes = file_bytes("{" + entry("w", "U8", "[4]", "[0,4]") + "}", "abcd");
  const fs::path path = write_file(dir, bytes);
  {
    const SafetensorsFile file(path, MapAccess::kCopyOnWrite);
    auto* writable = const_cast<std::uint8_t*>(file.data("w").data);  // what a zero-copy tensor may do
    writable[0] = 'Z';
    EXPECT_EQ(file.data("w").data[0], 'Z');
    EXPECT_EQ(SafetensorsFile(path).data("w").data[0], 'a');  // another mapping sees the file
  }
  EXPECT_EQ(read_file(path), bytes);
}

TEST(SafetensorsRead, ReleasedPagesReadBackUnchangedAndWrittenPagesAreKept) {
  test::TempDir dir("st-release");
  std::string bytes(5 * 65536 + 123, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  const fs::path path = write_file(dir, bytes, "pages.bin");
  const auto mapping = MappedFile::open(path);
  const std::string before(reinterpret_cast<const char*>(mapping->data()), mapping->size());
  mapping->release_pages(mapping->data() + 1000, 3 * 65536);
  mapping->release_pages(mapping->data(), mapping->size());
  mapping->release_pages(mapping->data() + mapping->size() - 10, 100);  // past the end: ignored
  mapping->release_pages(nullptr, 10);                                  // outside the mapping: ignored
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(mapping->data()), mapping->size()), before);

  const auto cow = MappedFile::open(path, MapAccess::kCopyOnWrite);
  auto* writable = const_cast<std::uint8_t*>(cow->data());
  writable[70000] = 0xAB;
  cow->release_pages(cow->data(), cow->size());  // would discard the write in a copy-on-write mapping
  EXPECT_EQ(cow->data()[70000], 0xAB);
  EXPECT_EQ(read_file(path), bytes);
}

TEST(SafetensorsRead, ViewsAreBoundsCheckedAgainstTheirFile) {
  test::TempDir dir("st-foreign");
  const SafetensorsFile small(write_file(dir, file_bytes("{" + entry("w", "U8", "[4]", "[0,4]") + "}", "abcd"), "a.st"));
  TensorInfo foreign = small.at("w");
  foreign.end = 400;
  EXPECT_THROW(small.data(foreign), DataError);
  // Copies share the mapping, which outlives the file object that made it.
  std::shared_ptr<const MappedFile> mapping;
  ByteView view;
  {
    const SafetensorsFile copy = small;
    mapping = copy.mapping();
    view = copy.data("w");
  }
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(view.data), view.size), "abcd");
}

TEST(SafetensorsRead, RejectsTruncatedFiles) {
  expect_format_error("", {"0 bytes", "too short"});
  expect_format_error(std::string("\x10\x00\x00", 3), {"3 bytes", "too short"});
  const std::string good = file_bytes("{" + entry("w", "F32", "[2]", "[0,8]") + "}", std::string(8, '\0'));
  expect_format_error(good.substr(0, good.size() - 3), {"tensor 'w'", "past the end of the data buffer"});
}

TEST(SafetensorsRead, RejectsHeaderLengthPastTheEnd) {
  expect_format_error(u64_le(1000) + "{}", {"header length 1000", "past the end of the file"});
  expect_format_error(u64_le(~0ull) + "{}", {"over the limit"});
  expect_format_error(u64_le(100'000'001) + "{}", {"over the limit"});
}

TEST(SafetensorsRead, RejectsOffsetsPastTheEnd) {
  const std::string header = "{" + entry("a", "U8", "[8]", "[0,8]") + "," + entry("b", "U8", "[8]", "[8,16]") + "}";
  expect_format_error(file_bytes(header, std::string(12, 'x')), {"tensor 'b'", "[8, 16]", "past the end of the data buffer"});
}

TEST(SafetensorsRead, RejectsOverlapsHolesAndTrailingBytes) {
  const std::string overlap = "{" + entry("a", "U8", "[16]", "[0,16]") + "," + entry("b", "U8", "[16]", "[8,24]") + "}";
  expect_format_error(file_bytes(overlap, std::string(24, 'x')), {"overlapping tensors", "'a'", "'b'"});
  const std::string inside = "{" + entry("a", "U8", "[16]", "[0,16]") + "," + entry("e", "U8", "[0]", "[4,4]") + "}";
  expect_format_error(file_bytes(inside, std::string(16, 'x')), {"overlapping tensors", "'e'"});
  const std::string same = "{" + entry("a", "U8", "[4]", "[0,4]") + "," + entry("b", "U8", "[4]", "[0,4]") + "}";
  expect_format_error(file_bytes(same, std::string(4, 'x')), {"overlapping tensors"});
  const std::string hole = "{" + entry("a", "U8", "[8]", "[0,8]") + "," + entry("b", "U8", "[8]", "[16,24]") + "}";
  expect_format_error(file_bytes(hole, std::string(24, 'x')), {"tensor 'b'", "8 bytes", "holes"});
  const std::string lead = "{" + entry("a", "U8", "[8]", "[4,12]") + "}";
  expect_format_error(file_bytes(lead, std::string(12, 'x')), {"first 4 bytes", "holes"});
  const std::string trailing = "{" + entry("a", "U8", "[8]", "[0,8]") + "}";
  expect_format_error(file_bytes(trailing, std::string(9, 'x')), {"last 1 bytes", "belong to no tensor"});
  expect_format_error(file_bytes("{}", "x"), {"last 1 bytes"});
}

TEST(SafetensorsRead, RejectsWrongByteLengthForTheDtype) {
  expect_format_error(file_bytes("{" + entry("w", "F32", "[3]", "[0,8]") + "}", std::string(8, 'x')),
                      {"tensor 'w'", "wrong byte length", "needs 12 bytes", "hold 8"});
  expect_format_error(file_bytes("{" + entry("w", "F16", "[]", "[0,1]") + "}", "x"), {"tensor 'w'", "wrong byte length"});
  expect_format_error(file_bytes("{" + entry("w", "I64", "[0]", "[0,8]") + "}", std::string(8, 'x')),
                      {"wrong byte length"});
  // 2^32 * 2^32 * 16 overflows 64 bits; a naive product would wrap to 0 and match [0, 0].
  expect_format_error(file_bytes("{" + entry("w", "F32", "[4294967296,4294967296,16]", "[0,0]") + "}", ""),
                      {"tensor 'w'", "overflow"});
  expect_format_error(file_bytes("{" + entry("w", "F64", "[4611686018427387904,4]", "[0,0]") + "}", ""), {"overflow"});
}

TEST(SafetensorsRead, RejectsDuplicateNames) {
  const std::string header = "{" + entry("w", "U8", "[1]", "[0,1]") + "," + entry("w", "U8", "[1]", "[1,2]") + "}";
  expect_format_error(file_bytes(header, "xy"), {"duplicate key 'w'"});
  const std::string field = R"({"w":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}})";
  expect_format_error(file_bytes(field, "x"), {"duplicate key 'dtype'", "inside 'w'"});
  const std::string metadata = R"({"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}})";
  expect_format_error(file_bytes(metadata, ""), {"duplicate key '__metadata__'"});
}

TEST(SafetensorsRead, RejectsHeadersThatAreNotJsonObjects) {
  expect_format_error(file_bytes("{\"w\": {", ""), {"header", "not valid JSON"});
  expect_format_error(file_bytes("not json", ""), {"not valid JSON"});
  // nlohmann's parser would stop at a NUL as at the end of input, ignoring what follows.
  expect_format_error(file_bytes(std::string("{}\0\0\0\0\0\0", 8), ""), {"not valid JSON", "NUL byte at offset 2"});
  expect_format_error(file_bytes(std::string("{}\0{\"hidden\":1}", 15), ""), {"NUL byte"});
  expect_format_error(file_bytes("[1,2]", ""), {"header must be a JSON object", "array"});
  expect_format_error(file_bytes("\"w\"", ""), {"header must be a JSON object"});
  expect_format_error(file_bytes("", ""), {"not valid JSON"});
}

TEST(SafetensorsRead, RejectsUnknownDtype) {
  expect_format_error(file_bytes("{" + entry("w", "F17", "[1]", "[0,4]") + "}", std::string(4, 'x')),
                      {"tensor 'w'", "unknown dtype 'F17'", "expected one of"});
  expect_format_error(file_bytes("{" + entry("w", "f32", "[1]", "[0,4]") + "}", std::string(4, 'x')),
                      {"unknown dtype 'f32'"});
}

TEST(SafetensorsRead, RejectsBeginAfterEnd) {
  const std::string header = "{" + entry("a", "U8", "[0]", "[8,0]") + "," + entry("b", "U8", "[8]", "[0,8]") + "}";
  expect_format_error(file_bytes(header, std::string(8, 'x')), {"tensor 'a'", "[8, 0]", "begin after"});
}

TEST(SafetensorsRead, RejectsMissingFieldsAndWrongTypes) {
  expect_format_error(file_bytes(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", "x"), {"tensor 'w'", "missing field 'dtype'"});
  expect_format_error(file_bytes(R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", "x"), {"missing field 'shape'"});
  expect_format_error(file_bytes(R"({"w":{"dtype":"U8","shape":[1]}})", "x"), {"missing field 'data_offsets'"});
  expect_format_error(file_bytes(R"({"w":5})", ""), {"tensor 'w'", "must be an object"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "\"1\"", "[0,1]") + "}", "x"), {"'shape' must be an array"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[1.0]", "[0,1]") + "}", "x"), {"non-negative integers"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[-1]", "[0,0]") + "}", ""), {"tensor 'w'", "negative dimension -1"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[true]", "[0,1]") + "}", "x"), {"non-negative integers"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[18446744073709551615]", "[0,1]") + "}", "x"), {"too large"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[1]", "[0]") + "}", "x"), {"'data_offsets' must be [begin, end]"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[1]", "[0,1,2]") + "}", "x"), {"'data_offsets'"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[1]", "[-1,0]") + "}", "x"), {"'data_offsets'"});
  expect_format_error(file_bytes("{" + entry("w", "U8", "[1]", "{}") + "}", "x"), {"'data_offsets'"});
  expect_format_error(file_bytes(R"({"w":{"dtype":8,"shape":[1],"data_offsets":[0,1]}})", "x"), {"'dtype' must be a string"});
}

TEST(SafetensorsRead, RejectsBadMetadata) {
  expect_format_error(file_bytes(R"({"__metadata__":[1]})", ""), {"'__metadata__' must be an object"});
  expect_format_error(file_bytes(R"({"__metadata__":{"epoch":3}})", ""), {"'__metadata__' value for key 'epoch'", "string"});
  expect_format_error(file_bytes(R"({"__metadata__":{"a":{"b":"c"}}})", ""), {"'__metadata__'"});
}

TEST(SafetensorsRead, RejectsDeepNestingAndBadUtf8) {
  expect_format_error(file_bytes(R"({"w":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})", "x"), {"nested deeper"});
  expect_format_error(file_bytes(std::string(5000, '[') + std::string(5000, ']'), ""), {"nested deeper"});
  expect_format_error(file_bytes("{\"\xff\":{}}", ""), {"not valid JSON"});
}

TEST(SafetensorsRead, MissingFilesAndFoldersAreIoErrors) {
  test::TempDir dir("st-io");
  EXPECT_THROW(SafetensorsFile(dir / "absent.safetensors"), IoError);
  EXPECT_THROW(SafetensorsFile(dir.path()), IoError);
}

}  // namespace
}  // namespace privprobe
