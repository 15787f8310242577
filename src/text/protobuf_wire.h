// Protocol Buffers wire format, read and written by hand: SentencePiece model files are
// protobuf messages, and Debian's libsentencepiece (with its own bundled protobuf) cannot share a
// process with libtorch. The reader treats its input as untrusted: every length is checked
// against the bytes left, varints are capped at 10 bytes, nested messages at kMaxProtoDepth, and
// any violation is a FormatError naming the source and the byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace privprobe {

enum class WireType : std::uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,  // deprecated groups: refused, SentencePiece never uses them
  kEndGroup = 4,
  kFixed32 = 5,
};

inline constexpr int kMaxProtoDepth = 16;
inline constexpr std::uint32_t kMaxProtoFieldNumber = (1u << 29) - 1;

// Reads one message's fields in order. Typical use:
//   ProtoReader reader(bytes, "tokenizer.model");
//   while (reader.next_field()) {
//     switch (reader.field_number()) {
//       case 1: name = reader.read_string(); break;
//       default: reader.skip_field();
//     }
//   }
// Each read_* checks that the current field's wire type fits the requested type.
class ProtoReader {
 public:
  // `source` names the input in errors (a file name); `base_offset` is where `buffer` starts in it.
  ProtoReader(std::string_view buffer, std::string source, std::size_t base_offset = 0, int depth = 0);

  // Advances to the next field's tag; false at the end of the message.
  bool next_field();
  std::uint32_t field_number() const { return field_number_; }
  WireType wire_type() const { return wire_type_; }

  std::uint64_t read_varint();  // wire type 0
  std::int32_t read_int32();    // varint, truncated to 32 bits as protobuf does (negative: 10 bytes)
  std::int64_t read_int64();
  bool read_bool();
  std::uint32_t read_fixed32();  // wire type 5
  std::uint64_t read_fixed64();  // wire type 1
  float read_float();
  double read_double();
  std::string_view read_bytes();  // wire type 2, a view into the buffer
  std::string read_string() { return std::string(read_bytes()); }
  // A reader over a nested message (wire type 2). Throws past kMaxProtoDepth levels.
  ProtoReader read_message();
  // Skips the current field's value, whatever its wire type.
  void skip_field();

  // Offset in the whole input of the next unread byte, for error messages.
  std::size_t offset() const { return base_offset_ + position_; }
  const std::string& source() const { return source_; }
  int depth() const { return depth_; }
  // Throws FormatError "<source>: <what> (byte N)".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::uint64_t raw_varint();
  void expect(WireType type, const char* what);
  std::string_view take(std::size_t count, const char* what);

  std::string_view buffer_;
  std::string source_;
  std::size_t base_offset_ = 0;
  std::size_t position_ = 0;
  int depth_ = 0;
  std::uint32_t field_number_ = 0;
  WireType wire_type_ = WireType::kVarint;
  bool value_pending_ = false;  // the current tag's value has not been consumed yet
};

// Appends fields to a byte string. Nested messages are written by serialising them into their own
// ProtoWriter first and adding the result with add_bytes.
class ProtoWriter {
 public:
  void add_varint(std::uint32_t field, std::uint64_t value);
  void add_int32(std::uint32_t field, std::int32_t value);  // negative: sign-extended, 10 bytes
  void add_bool(std::uint32_t field, bool value) { add_varint(field, value ? 1 : 0); }
  void add_fixed32(std::uint32_t field, std::uint32_t value);
  void add_fixed64(std::uint32_t field, std::uint64_t value);
  void add_float(std::uint32_t field, float value);
  void add_bytes(std::uint32_t field, std::string_view value);
  // Writes a raw tag, for tests that build malformed input.
  void add_tag(std::uint32_t field, WireType type);
  void add_raw_varint(std::uint64_t value);

  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

}  // namespace privprobe
