// UTF-8 helpers with SentencePiece's exact rules (strict decoding: no overlong forms, no
// surrogates, nothing past U+10FFFF), so that our tokenizer splits text where it does.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace privprobe {

// Length of the character starting at text[pos] judged by its first byte alone (1 for ASCII and
// stray continuation bytes, 2/3/4 for lead bytes), capped at the bytes left. pos < text.size().
std::size_t utf8_lead_length(std::string_view text, std::size_t pos);

// Decodes the character at text[pos]: returns true and its length when it is well-formed,
// false and length 1 when it is not. pos < text.size().
bool utf8_decode_at(std::string_view text, std::size_t pos, std::size_t& length);

bool is_valid_utf8(std::string_view text);

// The UTF-8 bytes of code point `c`; a surrogate or a value past U+10FFFF gives U+FFFD.
std::string utf8_encode(char32_t c);

// U+FFFD REPLACEMENT CHARACTER, what malformed bytes become.
inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";

}  // namespace privprobe
