// The protobuf wire-format reader on hand-built buffers, well-formed and malformed.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "text/protobuf_wire.h"
#include "util/error.h"

namespace privprobe {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// Reads every field of a flat message, skipping each, and returns how many there were.
int count_fields(std::string_view buffer) {
  ProtoReader reader(buffer, "test.bin");
  int count = 0;
  while (reader.next_field()) {
    reader.skip_field();
    ++count;
  }
  return count;
}

// Expects FormatError whose message contains `needle`.
void expect_format_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no FormatError, expected one about '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.bin"), std::string::npos) << "error must name the source: " << e.what();
  }
}

TEST(ProtobufWire, RoundTripsEveryWireType) {
  ProtoWriter writer;
  writer.add_varint(1, 150);
  writer.add_int32(2, -1);
  writer.add_int32(3, std::numeric_limits<std::int32_t>::min());
  writer.add_bool(4, true);
  writer.add_fixed32(5, 0xdeadbeefu);
  writer.add_fixed64(6, 0x0123456789abcdefULL);
  writer.add_float(7, -2.5f);
  writer.add_bytes(8, std::string("h\0llo", 5));
  writer.add_varint(kMaxProtoFieldNumber, std::numeric_limits<std::uint64_t>::max());

  ProtoReader reader(writer.bytes(), "test.bin");
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.field_number(), 1u);
  EXPECT_EQ(reader.wire_type(), WireType::kVarint);
  EXPECT_EQ(reader.read_varint(), 150u);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_int32(), -1);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_int32(), std::numeric_limits<std::int32_t>::min());
  ASSERT_TRUE(reader.next_field());
  EXPECT_TRUE(reader.read_bool());
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_fixed32(), 0xdeadbeefu);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_fixed64(), 0x0123456789abcdefULL);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_float(), -2.5f);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_bytes(), std::string_view("h\0llo", 5));
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.field_number(), kMaxProtoFieldNumber);
  EXPECT_EQ(reader.read_varint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(reader.next_field());
}

TEST(ProtobufWire, ReadsDoublesAndInt64) {
  double value = -0.125;
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  ProtoWriter writer;
  writer.add_fixed64(1, bits);
  writer.add_varint(2, static_cast<std::uint64_t>(std::int64_t{-5}));
  ProtoReader reader(writer.bytes(), "test.bin");
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_double(), -0.125);
  ASSERT_TRUE(reader.next_field());
  EXPECT_EQ(reader.read_int64(), -5);
}

TEST(ProtobufWire, KnownEncodings) {
  // Field 1 = 150 is the protobuf documentation's example: 08 96 01.
  ProtoWriter writer;
  writer.add_varint(1, 150);
  EXPECT_EQ(writer.bytes(), bytes({0x08, 0x96, 0x01}));
  // A negative int32 takes ten bytes.
  ProtoWriter negative;
  negative.add_int32(1, -1);
  EXPECT_EQ(negative.bytes().size(), 11u);
}

TEST(ProtobufWire, UnreadValuesAreSkippedByNextField) {
  ProtoWriter writer;
  writer.add_bytes(1, "ignored");
  writer.add_fixed64(2, 7);
  writer.add_fixed32(3, 7);
  writer.add_varint(4, 300);
  writer.add_varint(9, 42);
  ProtoReader reader(writer.bytes(), "test.bin");
  int last_value = 0;
  while (reader.next_field()) {
    if (reader.field_number() == 9) last_value = static_cast<int>(reader.read_varint());
  }
  EXPECT_EQ(last_value, 42);
}

TEST(ProtobufWire, NestedMessagesReportAbsoluteOffsets) {
  ProtoWriter inner;
  inner.add_varint(1, 5);
  ProtoWriter outer;
  outer.add_varint(1, 1);
  outer.add_bytes(2, inner.bytes() + bytes({0x80}));  // inner ends in a truncated tag
  ProtoReader reader(outer.bytes(), "test.bin");
  ASSERT_TRUE(reader.next_field());
  ASSERT_TRUE(reader.next_field());
  ProtoReader nested = reader.read_message();
  EXPECT_EQ(nested.depth(), 1);
  ASSERT_TRUE(nested.next_field());
  EXPECT_EQ(nested.read_varint(), 5u);
  expect_format_error([&] { nested.next_field(); }, "truncated varint (byte " + std::to_string(outer.bytes().size()) + ")");
  EXPECT_FALSE(reader.next_field());
}

TEST(ProtobufWire, EmptyBufferHasNoFields) { EXPECT_EQ(count_fields(""), 0); }

TEST(ProtobufWire, TruncatedVarintIsRejected) {
  expect_format_error([] { count_fields(bytes({0x80})); }, "truncated varint");
  expect_format_error([] { count_fields(bytes({0x08})); }, "truncated varint");        // tag without value
  expect_format_error([] { count_fields(bytes({0x08, 0xff, 0xff})); }, "truncated varint");
}

TEST(ProtobufWire, OverlongVarintIsRejected) {
  expect_format_error([] { count_fields(bytes({0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})); },
                      "longer than 10 bytes");
  expect_format_error([] { count_fields(bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})); },
                      "overflows 64 bits");
}

TEST(ProtobufWire, LengthPastTheEndIsRejected) {
  expect_format_error([] { count_fields(bytes({0x0a, 0x05, 'a', 'b'})); }, "declares 5 bytes but only 2");
  // A length near 2^64 must not wrap around.
  expect_format_error([] { count_fields(bytes({0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'})); },
                      "declares");
}

TEST(ProtobufWire, TruncatedFixedWidthValuesAreRejected) {
  expect_format_error([] { count_fields(bytes({0x0d, 1, 2, 3})); }, "32-bit value of 4 bytes runs past the end");
  expect_format_error([] { count_fields(bytes({0x09, 1, 2, 3, 4, 5, 6, 7})); }, "64-bit value of 8 bytes runs past the end");
}

TEST(ProtobufWire, InvalidTagsAreRejected) {
  expect_format_error([] { count_fields(bytes({0x00, 0x01})); }, "invalid field number 0");
  expect_format_error([] { count_fields(bytes({0x0e, 0x01})); }, "invalid wire type 6");
  expect_format_error([] { count_fields(bytes({0x0f, 0x01})); }, "invalid wire type 7");
  expect_format_error([] { count_fields(bytes({0x0b, 0x0c})); }, "groups");
  expect_format_error([] { count_fields(bytes({0x0c})); }, "groups");
  // Field number beyond 2^29 - 1.
  expect_format_error([] { count_fields(bytes({0xf8, 0xff, 0xff, 0xff, 0x7f, 0x00})); }, "invalid field number");
}

TEST(ProtobufWire, WrongWireTypeForTheRequestedValueIsRejected) {
  ProtoWriter writer;
  writer.add_varint(3, 1);
  ProtoReader reader(writer.bytes(), "test.bin");
  ASSERT_TRUE(reader.next_field());
  expect_format_error([&] { reader.read_bytes(); }, "field 3 has wire type varint, expected length-delimited");
}

TEST(ProtobufWire, ReadingAValueTwiceIsRejected) {
  ProtoWriter writer;
  writer.add_varint(1, 1);
  ProtoReader reader(writer.bytes(), "test.bin");
  ASSERT_TRUE(reader.next_field());
  reader.read_varint();
  expect_format_error([&] { reader.read_varint(); }, "no field value");
}

TEST(ProtobufWire, DeepNestingIsRejected) {
  // 100 messages, each the only field (1) of its parent.
  std::string message;
  for (int level = 0; level < 100; ++level) {
    ProtoWriter wrap;
    wrap.add_bytes(1, message);
    message = wrap.take();
  }
  std::function<int(ProtoReader&)> walk = [&](ProtoReader& reader) {
    int deepest = reader.depth();
    while (reader.next_field()) {
      ProtoReader child = reader.read_message();
      deepest = std::max(deepest, walk(child));
    }
    return deepest;
  };
  ProtoReader root(message, "test.bin");
  expect_format_error([&] { walk(root); }, "nested deeper than " + std::to_string(kMaxProtoDepth));

  // Exactly the limit is fine.
  std::string shallow;
  for (int level = 0; level < kMaxProtoDepth; ++level) {
    ProtoWriter wrap;
    wrap.add_bytes(1, shallow);
    shallow = wrap.take();
  }
  ProtoReader ok(shallow, "test.bin");
  EXPECT_EQ(walk(ok), kMaxProtoDepth);
}

TEST(ProtobufWire, EveryTruncationOfAValidMessageFailsCleanly) {
  ProtoWriter inner;
  inner.add_bytes(1, "piece");
  inner.add_float(2, 1.5f);
  inner.add_int32(3, -7);
  ProtoWriter outer;
  outer.add_bytes(1, inner.bytes());
  const std::size_t field_boundary = outer.bytes().size();  // a cut here leaves a valid message
  outer.add_fixed64(2, 99);
  const std::string full = outer.bytes();
  for (std::size_t cut = 1; cut < full.size(); ++cut) {
    const std::string prefix = full.substr(0, cut);
    bool threw = false;
    try {
      ProtoReader reader(prefix, "test.bin");
      while (reader.next_field()) {
        if (reader.field_number() == 1) {
          ProtoReader nested = reader.read_message();
          while (nested.next_field()) nested.skip_field();
        }
      }
    } catch (const FormatError&) {
      threw = true;
    }
    EXPECT_EQ(threw, cut != field_boundary) << "message cut at byte " << cut;
  }
}

}  // namespace
}  // namespace privprobe
