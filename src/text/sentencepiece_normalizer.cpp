#include "text/sentencepiece_normalizer.h"

#include <algorithm>

#include "text/utf8.h"
#include "util/error.h"

namespace privprobe {

// ---- PrefixMatcher ----

PrefixMatcher::PrefixMatcher(const std::vector<std::string>& symbols) {
  for (const std::string& symbol : symbols) {
    if (symbol.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(symbol[0])].push_back(symbol);
    ++count_;
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }
}

std::size_t PrefixMatcher::match(std::string_view text, std::size_t pos) const {
  if (count_ == 0 || pos >= text.size()) return 0;
  const std::string_view rest = text.substr(pos);
  for (const std::string& symbol : by_first_byte_[static_cast<unsigned char>(rest[0])]) {
    if (rest.substr(0, symbol.size()) == symbol) return symbol.size();
  }
  return 0;
}

// ---- PrecompiledCharsMap ----

PrecompiledCharsMap::PrecompiledCharsMap(std::string_view blob, std::string source) : source_(std::move(source)) {
  if (blob.empty()) return;
  const auto fail = [&](const std::string& what) {
    throw FormatError(error_message(source_, "normalizer precompiled_charsmap: " + what));
  };
  if (blob.size() <= 4) fail("shorter than its header");
  std::uint32_t trie_bytes = 0;
  for (int i = 3; i >= 0; --i) trie_bytes = (trie_bytes << 8) | static_cast<unsigned char>(blob[i]);
  if (trie_bytes > blob.size() - 4) fail("trie size exceeds the blob");
  if (trie_bytes % 4 != 0 || trie_bytes == 0) fail("trie size is not a positive multiple of 4");
  units_.resize(trie_bytes / 4);
  for (std::size_t u = 0; u < units_.size(); ++u) {
    std::uint32_t unit = 0;
    for (int i = 3; i >= 0; --i) unit = (unit << 8) | static_cast<unsigned char>(blob[4 + 4 * u + i]);
    units_[u] = unit;
  }
  replacements_ = std::string(blob.substr(4 + trie_bytes));
}

std::pair<std::size_t, std::string_view> PrecompiledCharsMap::longest_match(std::string_view text,
                                                                            std::size_t pos) const {
  if (units_.empty()) return {0, {}};
  // Darts-clone unit layout: label in the low byte (plus bit 31 for leaves), has_leaf in bit 8,
  // offset in bits 10.. scaled by bit 9; a leaf's value is in its low 31 bits.
  const auto unit_at = [&](std::uint64_t index) {
    if (index >= units_.size()) {
      throw FormatError(error_message(source_, "normalizer precompiled_charsmap: trie index out of range"));
    }
    return units_[static_cast<std::size_t>(index)];
  };
  const auto offset_of = [](std::uint32_t unit) -> std::uint64_t {
    return static_cast<std::uint64_t>(unit >> 10) << ((unit & (1u << 9)) >> 6);
  };
  std::size_t best_length = 0;
  std::uint32_t best_value = 0;
  std::uint64_t node = offset_of(unit_at(0));
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    node ^= byte;
    const std::uint32_t unit = unit_at(node);
    if ((unit & ((1u << 31) | 0xFFu)) != byte) break;
    node ^= offset_of(unit);
    if ((unit >> 8) & 1u) {
      best_length = i + 1 - pos;
      best_value = unit_at(node) & ((1u << 31) - 1);
    }
  }
  if (best_length == 0) return {0, {}};
  if (best_value >= replacements_.size()) {
    throw FormatError(error_message(source_, "normalizer precompiled_charsmap: replacement offset out of range"));
  }
  const std::size_t end = replacements_.find('\0', best_value);
  if (end == std::string::npos) {
    throw FormatError(error_message(source_, "normalizer precompiled_charsmap: replacement not terminated"));
  }
  return {best_length, std::string_view(replacements_).substr(best_value, end - best_value)};
}

// ---- SentencePieceNormalizer ----

SentencePieceNormalizer::SentencePieceNormalizer(const SentencePieceNormalizerSpec& spec,
                                                 const std::vector<std::string>& user_defined,
                                                 const std::string& source)
    : spec_(spec), user_defined_(user_defined), charsmap_(spec.precompiled_charsmap, source) {}

std::pair<std::string_view, std::size_t> SentencePieceNormalizer::normalize_prefix(std::string_view text,
                                                                                   std::size_t pos) const {
  if (const std::size_t length = user_defined_.match(text, pos); length > 0) {
    return {text.substr(pos, length), length};
  }
  if (!charsmap_.empty()) {
    const auto [length, replacement] = charsmap_.longest_match(text, pos);
    if (length > 0) return {replacement, length};
  }
  std::size_t length = 0;
  if (!utf8_decode_at(text, pos, length)) return {kUtf8Replacement, 1};
  return {text.substr(pos, length), length};
}

std::string SentencePieceNormalizer::normalize(std::string_view text, bool allow_dummy_prefix) const {
  const std::string_view space = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
  std::size_t pos = 0;
  if (spec_.remove_extra_whitespaces) {
    while (pos < text.size()) {
      const auto [normalized, consumed] = normalize_prefix(text, pos);
      if (normalized != " ") break;
      pos += consumed;
    }
  }
  std::string out;
  if (pos >= text.size()) return out;
  out.reserve(text.size() * 3 / 2 + 4);
  if (spec_.add_dummy_prefix && allow_dummy_prefix) out.append(space);

  bool is_prev_space = spec_.remove_extra_whitespaces;
  while (pos < text.size()) {
    auto [normalized, consumed] = normalize_prefix(text, pos);
    if (is_prev_space) {
      while (!normalized.empty() && normalized.front() == ' ') normalized.remove_prefix(1);
    }
    if (!normalized.empty()) {
      for (const char c : normalized) {
        if (c == ' ' && spec_.escape_whitespaces) {
          out.append(kSpaceSymbol);
        } else {
          out.push_back(c);
        }
      }
      is_prev_space = normalized.back() == ' ';
    }
    pos += consumed;
    if (!spec_.remove_extra_whitespaces) is_prev_space = false;
  }
  if (spec_.remove_extra_whitespaces) {
    while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space) {
      out.resize(out.size() - space.size());
    }
  }
  return out;
}

}  // namespace privprobe
