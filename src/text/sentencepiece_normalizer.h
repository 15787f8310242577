// SentencePiece's text normalisation before segmentation (normalizer.cc semantics): optional
// character mapping from a precompiled charsmap (nmt_nfkc and friends; identity when empty),
// whitespace clean-up, the dummy-prefix "▁" and spaces escaped as "▁" (U+2581).
// User-defined symbols are copied through untouched; malformed UTF-8 bytes become U+FFFD.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/sentencepiece_model.h"

namespace privprobe {

inline constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁" U+2581

// Longest-prefix matching over a small set of strings (user-defined symbols).
class PrefixMatcher {
 public:
  PrefixMatcher() = default;
  explicit PrefixMatcher(const std::vector<std::string>& symbols);
  // Length of the longest symbol that text[pos..] starts with, 0 when none.
  std::size_t match(std::string_view text, std::size_t pos) const;
  bool empty() const { return count_ == 0; }

 private:
  // Symbols by first byte, longest first.
  std::array<std::vector<std::string>, 256> by_first_byte_;
  std::size_t count_ = 0;
};

// The character map compiled into NormalizerSpec.precompiled_charsmap: a little-endian uint32
// trie size, a Darts-clone double-array trie of that many bytes, then NUL-terminated
// replacement strings that the trie's values point into.
class PrecompiledCharsMap {
 public:
  PrecompiledCharsMap() = default;
  // Throws FormatError naming `source` when the blob's layout is inconsistent.
  PrecompiledCharsMap(std::string_view blob, std::string source);
  bool empty() const { return units_.empty(); }
  // Longest key that text[pos..] starts with: {matched byte length, replacement}; length 0 when
  // none. Throws FormatError when the trie points outside itself.
  std::pair<std::size_t, std::string_view> longest_match(std::string_view text, std::size_t pos) const;

 private:
  std::vector<std::uint32_t> units_;
  std::string replacements_;
  std::string source_;
};

class SentencePieceNormalizer {
 public:
  SentencePieceNormalizer() = default;
  // `user_defined` pieces are never altered by the character map. Throws FormatError (charsmap).
  SentencePieceNormalizer(const SentencePieceNormalizerSpec& spec, const std::vector<std::string>& user_defined,
                          const std::string& source);

  // The text the segmenter sees. `allow_dummy_prefix` false suppresses the spec's dummy prefix
  // (for text that follows an added token in Hugging Face's non-legacy mode).
  std::string normalize(std::string_view text, bool allow_dummy_prefix = true) const;

  const SentencePieceNormalizerSpec& spec() const { return spec_; }

 private:
  // The normalised form of the character(s) at text[pos..] and how many input bytes they span.
  std::pair<std::string_view, std::size_t> normalize_prefix(std::string_view text, std::size_t pos) const;

  SentencePieceNormalizerSpec spec_;
  PrefixMatcher user_defined_;
  PrecompiledCharsMap charsmap_;
};

}  // namespace privprobe
