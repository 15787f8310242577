#include "text/utf8.h"

namespace privprobe {

namespace {

bool is_trail(unsigned char byte) { return (byte & 0xC0) == 0x80; }

bool is_valid_code_point(char32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

}  // namespace

std::size_t utf8_lead_length(std::string_view text, std::size_t pos) {
  // SentencePiece's table indexed by the high nibble of the first byte.
  static constexpr unsigned char kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  const std::size_t length = kLengths[static_cast<unsigned char>(text[pos]) >> 4];
  const std::size_t left = text.size() - pos;
  return length < left ? length : left;
}

bool utf8_decode_at(std::string_view text, std::size_t pos, std::size_t& length) {
  const std::size_t left = text.size() - pos;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  length = 1;
  if (b(0) < 0x80) return true;
  if (left >= 2 && (b(0) & 0xE0) == 0xC0) {
    const char32_t c = (static_cast<char32_t>(b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    if (is_trail(b(1)) && c >= 0x80) {
      length = 2;
      return true;
    }
  } else if (left >= 3 && (b(0) & 0xF0) == 0xE0) {
    const char32_t c = (static_cast<char32_t>(b(0) & 0x0F) << 12) | (static_cast<char32_t>(b(1) & 0x3F) << 6) |
                       (b(2) & 0x3F);
    if (is_trail(b(1)) && is_trail(b(2)) && c >= 0x800 && is_valid_code_point(c)) {
      length = 3;
      return true;
    }
  } else if (left >= 4 && (b(0) & 0xF8) == 0xF0) {
    const char32_t c = (static_cast<char32_t>(b(0) & 0x07) << 18) | (static_cast<char32_t>(b(1) & 0x3F) << 12) |
                       (static_cast<char32_t>(b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    if (is_trail(b(1)) && is_trail(b(2)) && is_trail(b(3)) && c >= 0x10000 && is_valid_code_point(c)) {
      length = 4;
      return true;
    }
  }
  return false;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t length = 0;
    if (!utf8_decode_at(text, pos, length)) return false;
    pos += length;
  }
  return true;
}

std::string utf8_encode(char32_t c) {
  if (!is_valid_code_point(c)) c = 0xFFFD;
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

}  // namespace privprobe
