#include "text/protobuf_wire.h"

#include <cstring>

#include "util/error.h"

namespace privprobe {

namespace {

const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::kVarint: return "varint";
    case WireType::kFixed64: return "64-bit";
    case WireType::kLengthDelimited: return "length-delimited";
    case WireType::kStartGroup: return "start-group";
    case WireType::kEndGroup: return "end-group";
    case WireType::kFixed32: return "32-bit";
  }
  return "unknown";
}

}  // namespace

ProtoReader::ProtoReader(std::string_view buffer, std::string source, std::size_t base_offset, int depth)
    : buffer_(buffer), source_(std::move(source)), base_offset_(base_offset), depth_(depth) {
  if (depth_ > kMaxProtoDepth) {
    fail("protobuf messages nested deeper than " + std::to_string(kMaxProtoDepth) + " levels");
  }
}

void ProtoReader::fail(const std::string& what) const {
  throw FormatError(error_message(source_, what + " (byte " + std::to_string(offset()) + ")"));
}

std::uint64_t ProtoReader::raw_varint() {
  std::uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (position_ >= buffer_.size()) fail("truncated varint");
    const auto byte = static_cast<std::uint8_t>(buffer_[position_++]);
    if (i == 9) {
      if (byte & 0x80) fail("varint longer than 10 bytes");
      // The tenth byte may only carry the 64th bit.
      if (byte > 1) fail("varint overflows 64 bits");
    }
    value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) return value;
  }
  fail("varint longer than 10 bytes");  // not reached: the tenth byte ends or fails above
}

std::string_view ProtoReader::take(std::size_t count, const char* what) {
  if (count > buffer_.size() - position_) {
    fail(std::string(what) + " of " + std::to_string(count) + " bytes runs past the end (" +
         std::to_string(buffer_.size() - position_) + " left)");
  }
  const std::string_view out = buffer_.substr(position_, count);
  position_ += count;
  return out;
}

bool ProtoReader::next_field() {
  if (value_pending_) skip_field();
  if (position_ >= buffer_.size()) return false;
  const std::uint64_t tag = raw_varint();
  const std::uint64_t number = tag >> 3;
  const auto type = static_cast<std::uint8_t>(tag & 7);
  if (number == 0 || number > kMaxProtoFieldNumber) fail("invalid field number " + std::to_string(number));
  if (type > 5) fail("invalid wire type " + std::to_string(type) + " for field " + std::to_string(number));
  field_number_ = static_cast<std::uint32_t>(number);
  wire_type_ = static_cast<WireType>(type);
  if (wire_type_ == WireType::kStartGroup || wire_type_ == WireType::kEndGroup) {
    fail("field " + std::to_string(number) + " uses protobuf groups, which are not supported");
  }
  value_pending_ = true;
  return true;
}

void ProtoReader::expect(WireType type, const char* what) {
  if (!value_pending_) fail(std::string("no field value to read as ") + what);
  if (wire_type_ != type) {
    fail("field " + std::to_string(field_number_) + " has wire type " + wire_type_name(wire_type_) +
         ", expected " + wire_type_name(type) + " for " + what);
  }
  value_pending_ = false;
}

std::uint64_t ProtoReader::read_varint() {
  expect(WireType::kVarint, "a varint");
  return raw_varint();
}

std::int32_t ProtoReader::read_int32() {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(read_varint() & 0xffffffffu));
}

std::int64_t ProtoReader::read_int64() { return static_cast<std::int64_t>(read_varint()); }

bool ProtoReader::read_bool() { return read_varint() != 0; }

std::uint32_t ProtoReader::read_fixed32() {
  expect(WireType::kFixed32, "a 32-bit value");
  const std::string_view bytes = take(4, "32-bit value");
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::uint64_t ProtoReader::read_fixed64() {
  expect(WireType::kFixed64, "a 64-bit value");
  const std::string_view bytes = take(8, "64-bit value");
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

float ProtoReader::read_float() {
  const std::uint32_t bits = read_fixed32();
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

double ProtoReader::read_double() {
  const std::uint64_t bits = read_fixed64();
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::string_view ProtoReader::read_bytes() {
  expect(WireType::kLengthDelimited, "a length-delimited value");
  const std::uint64_t length = raw_varint();
  if (length > buffer_.size() - position_) {
    fail("field " + std::to_string(field_number_) + " declares " + std::to_string(length) +
         " bytes but only " + std::to_string(buffer_.size() - position_) + " are left");
  }
  return take(static_cast<std::size_t>(length), "length-delimited value");
}

ProtoReader ProtoReader::read_message() {
  const std::uint32_t field = field_number_;
  const std::string_view body = read_bytes();
  const std::size_t body_offset = offset() - body.size();
  if (depth_ + 1 > kMaxProtoDepth) {
    fail("field " + std::to_string(field) + ": messages nested deeper than " +
         std::to_string(kMaxProtoDepth) + " levels");
  }
  return ProtoReader(body, source_, body_offset, depth_ + 1);
}

void ProtoReader::skip_field() {
  if (!value_pending_) return;
  switch (wire_type_) {
    case WireType::kVarint: read_varint(); break;
    case WireType::kFixed64: read_fixed64(); break;
    case WireType::kLengthDelimited: read_bytes(); break;
    case WireType::kFixed32: read_fixed32(); break;
    case WireType::kStartGroup:
    case WireType::kEndGroup: fail("protobuf groups are not supported");
  }
}

// ---- writer ----

void ProtoWriter::add_raw_varint(std::uint64_t value) {
  while (value >= 0x80) {
    bytes_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  bytes_.push_back(static_cast<char>(value));
}

void ProtoWriter::add_tag(std::uint32_t field, WireType type) {
  add_raw_varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint8_t>(type));
}

void ProtoWriter::add_varint(std::uint32_t field, std::uint64_t value) {
  add_tag(field, WireType::kVarint);
  add_raw_varint(value);
}

void ProtoWriter::add_int32(std::uint32_t field, std::int32_t value) {
  // protobuf sign-extends negative int32 values to 64 bits.
  add_varint(field, static_cast<std::uint64_t>(static_cast<std::int64_t>(value)));
}

void ProtoWriter::add_fixed32(std::uint32_t field, std::uint32_t value) {
  add_tag(field, WireType::kFixed32);
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void ProtoWriter::add_fixed64(std::uint32_t field, std::uint64_t value) {
  add_tag(field, WireType::kFixed64);
  for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void ProtoWriter::add_float(std::uint32_t field, float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  add_fixed32(field, bits);
}

void ProtoWriter::add_bytes(std::uint32_t field, std::string_view value) {
  add_tag(field, WireType::kLengthDelimited);
  add_raw_varint(value.size());
  bytes_.append(value.data(), value.size());
}

}  // namespace privprobe
