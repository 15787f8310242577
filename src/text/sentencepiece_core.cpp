#include "text/sentencepiece_core.h"

#include <algorithm>
#include <cfloat>
#include <functional>
#include <queue>

#include "text/utf8.h"
#include "util/error.h"

namespace privprobe {

namespace {

[[noreturn]] void unsupported(const std::string& source, const std::string& what) {
  throw FormatError(error_message(source, what + " is not supported",
                                  "privprobe applies BPE and unigram SentencePiece models"));
}

}  // namespace

SentencePieceCore::SentencePieceCore(SentencePieceModel model, std::string source)
    : model_(std::move(model)), source_(std::move(source)) {
  validate_sentencepiece_model(model_, source_);
  const SentencePieceTrainerSpec& trainer = model_.trainer;
  if (trainer.model_type == SentencePieceAlgorithm::kWord) unsupported(source_, "model_type WORD");
  if (trainer.model_type == SentencePieceAlgorithm::kChar) unsupported(source_, "model_type CHAR");
  if (trainer.treat_whitespace_as_suffix) unsupported(source_, "treat_whitespace_as_suffix");
  if (model_.has_denormalizer) unsupported(source_, "a denormalizer_spec with a character map");

  byte_ids_.fill(-1);
  std::vector<std::string> user_defined;
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;  // as SentencePiece (the smallest positive float, not the lowest)
  for (std::size_t i = 0; i < model_.pieces.size(); ++i) {
    const SentencePieceEntry& entry = model_.pieces[i];
    const int id = static_cast<int>(i);
    switch (entry.type) {
      case PieceType::kNormal:
        min_score_ = std::min(min_score_, entry.score);
        max_score_ = std::max(max_score_, entry.score);
        normal_.emplace(entry.piece, id);
        break;
      case PieceType::kUserDefined:
        user_defined.push_back(entry.piece);
        normal_.emplace(entry.piece, id);
        break;
      case PieceType::kUnused: normal_.emplace(entry.piece, id); break;
      case PieceType::kUnknown:
        unk_id_ = id;
        reserved_.emplace(entry.piece, id);
        break;
      case PieceType::kControl: reserved_.emplace(entry.piece, id); break;
      case PieceType::kByte:
        byte_ids_[static_cast<std::size_t>(byte_of_piece(entry.piece))] = id;
        reserved_.emplace(entry.piece, id);
        break;
    }
    max_piece_bytes_ = std::max(max_piece_bytes_, entry.piece.size());
  }
  if (min_score_ == FLT_MAX) min_score_ = 0.0f;
  if (max_score_ == FLT_MIN) max_score_ = 0.0f;
  user_defined_ = PrefixMatcher(user_defined);
  normalizer_ = SentencePieceNormalizer(model_.normalizer, user_defined, source_);
}

int SentencePieceCore::find_piece(std::string_view piece) const {
  if (const auto it = reserved_.find(piece); it != reserved_.end()) return it->second;
  if (const auto it = normal_.find(piece); it != normal_.end()) return it->second;
  return -1;
}

int SentencePieceCore::piece_to_id(std::string_view piece) const {
  const int id = find_piece(piece);
  return id >= 0 ? id : unk_id_;
}

int SentencePieceCore::control_id(std::string_view piece) const {
  const auto it = reserved_.find(piece);
  return it != reserved_.end() && type(it->second) == PieceType::kControl ? it->second : -1;
}

void SentencePieceCore::encode(std::string_view text, bool allow_dummy_prefix, std::vector<int>& ids) const {
  const std::string normalized = normalizer_.normalize(text, allow_dummy_prefix);
  if (normalized.empty()) return;
  const Segmentation pieces = model_.trainer.model_type == SentencePieceAlgorithm::kBpe ? segment_bpe(normalized)
                                                                                         : segment_unigram(normalized);
  bool previous_unknown = false;
  for (const auto& [surface, id] : pieces) {
    const bool unknown = id == unk_id_;
    if (unknown && model_.trainer.byte_fallback) {
      // An unknown piece is spelled as its UTF-8 bytes; a missing byte piece falls back to <unk>.
      for (const char byte : surface) {
        const int byte_id = byte_ids_[static_cast<unsigned char>(byte)];
        ids.push_back(byte_id >= 0 ? byte_id : unk_id_);
      }
    } else if (!(unknown && previous_unknown)) {
      // Without byte fallback, a run of unknown pieces is one <unk> (sentencepiece_processor.cc).
      ids.push_back(id);
    }
    previous_unknown = unknown;
  }
}

SentencePieceCore::Segmentation SentencePieceCore::segment_bpe(std::string_view normalized) const {
  struct Symbol {
    int prev;
    int next;
    bool freeze;  // user-defined symbols never merge
    std::string_view piece;
  };
  struct Pair {
    float score;
    int left;
    int right;
    std::size_t size;
  };
  // Highest score first; equal scores: leftmost first.
  const auto lower_priority = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(lower_priority)> agenda(lower_priority);
  std::vector<Symbol> symbols;
  // Merged pieces of type UNUSED, and what they were merged from, to split them again at the end.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> reverse_merge;

  for (std::size_t pos = 0; pos < normalized.size();) {
    std::size_t length = user_defined_.match(normalized, pos);
    const bool freeze = length > 0;
    if (!freeze) length = utf8_lead_length(normalized, pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, pos + length < normalized.size() ? index + 1 : -1, freeze,
                       normalized.substr(pos, length)});
    pos += length;
  }

  const auto add_pair = [&](int left, int right) {
    if (left < 0 || right < 0 || symbols[left].freeze || symbols[right].freeze) return;
    const std::string_view merged(symbols[left].piece.data(), symbols[left].piece.size() + symbols[right].piece.size());
    const auto it = normal_.find(merged);
    if (it == normal_.end()) return;
    const SentencePieceEntry& entry = model_.pieces[static_cast<std::size_t>(it->second)];
    agenda.push({entry.score, left, right, merged.size()});
    if (entry.type == PieceType::kUnused) reverse_merge[merged] = {symbols[left].piece, symbols[right].piece};
  };
  for (std::size_t i = 1; i < symbols.size(); ++i) add_pair(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    // Stale entry: one side was merged away or grew since the pair was queued.
    if (left.piece.empty() || right.piece.empty() || left.piece.size() + right.piece.size() != top.size) continue;
    left.piece = std::string_view(left.piece.data(), top.size);
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.piece = std::string_view();
    add_pair(left.prev, top.left);
    add_pair(top.left, left.next);
  }

  Segmentation out;
  std::function<void(std::string_view)> resegment = [&](std::string_view piece) {
    const int id = piece_to_id(piece);
    if (type(id) == PieceType::kUnused) {
      if (const auto it = reverse_merge.find(piece); it != reverse_merge.end()) {
        resegment(it->second.first);
        resegment(it->second.second);
        return;
      }
    }
    out.emplace_back(piece, id);
  };
  for (int index = symbols.empty() ? -1 : 0; index != -1; index = symbols[index].next) resegment(symbols[index].piece);
  return out;
}

SentencePieceCore::Segmentation SentencePieceCore::segment_unigram(std::string_view normalized) const {
  // Viterbi over all pieces that match at each character boundary (unigram_model.cc,
  // EncodeOptimized), with SentencePiece's mixed float/double arithmetic kept as it is.
  struct BestPath {
    int id = -1;
    float score = 0.0f;
    long starts_at = -1;
  };
  constexpr float kUnkPenalty = 10.0f;
  const float unk_score = min_score_ - kUnkPenalty;
  const std::size_t size = normalized.size();
  std::vector<BestPath> best(size + 1);
  for (std::size_t start = 0; start < size;) {
    const float score_here = best[start].score;
    const std::size_t char_length = utf8_lead_length(normalized, start);
    bool has_single_char_piece = false;
    const std::size_t longest = std::min(size - start, max_piece_bytes_);
    for (std::size_t length = 1; length <= longest; ++length) {
      const auto it = normal_.find(normalized.substr(start, length));
      if (it == normal_.end()) continue;
      const SentencePieceEntry& entry = model_.pieces[static_cast<std::size_t>(it->second)];
      if (entry.type == PieceType::kUnused) continue;
      // User-defined symbols get a bonus so they are always chosen.
      const double score = entry.type == PieceType::kUserDefined
                               ? static_cast<double>(static_cast<float>(length) * max_score_) - 0.1
                               : static_cast<double>(entry.score);
      const double candidate = score + static_cast<double>(score_here);
      BestPath& target = best[start + length];
      if (target.starts_at == -1 || candidate > static_cast<double>(target.score)) {
        target = {it->second, static_cast<float>(candidate), static_cast<long>(start)};
      }
      if (length == char_length) has_single_char_piece = true;
    }
    if (!has_single_char_piece) {
      BestPath& target = best[start + char_length];
      const float candidate = unk_score + score_here;
      if (target.starts_at == -1 || candidate > target.score) target = {unk_id_, candidate, static_cast<long>(start)};
    }
    start += char_length;
  }
  Segmentation out;
  for (std::size_t end = size; end > 0;) {
    const BestPath& node = best[end];
    const auto begin = static_cast<std::size_t>(node.starts_at);
    out.emplace_back(normalized.substr(begin, end - begin), node.id);
    end = begin;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string SentencePieceCore::decode(const int* ids, std::size_t count, bool strip_dummy_prefix) const {
  const SentencePieceNormalizerSpec& normalizer = model_.normalizer;
  std::string text;
  std::string pending_bytes;
  const auto flush_bytes = [&] {
    // Valid UTF-8 sequences are kept; each byte of an invalid one becomes U+FFFD.
    for (std::size_t pos = 0; pos < pending_bytes.size();) {
      std::size_t length = 0;
      if (utf8_decode_at(pending_bytes, pos, length)) {
        text.append(pending_bytes, pos, length);
      } else {
        text.append(kUtf8Replacement);
      }
      pos += length;
    }
    pending_bytes.clear();
  };
  // Only a leading "▁" that the encoder added is removed (all leading ones when the normaliser
  // removes extra whitespace, since the encoder then keeps none), as SentencePiece >= 0.1.99.
  bool expect_prefix = strip_dummy_prefix && (normalizer.add_dummy_prefix || normalizer.remove_extra_whitespaces);
  bool prefix_seen = false;
  for (std::size_t i = 0; i < count; ++i) {
    const int id = ids[i];
    const SentencePieceEntry& entry = model_.pieces[static_cast<std::size_t>(id)];
    if (entry.type == PieceType::kByte) {
      pending_bytes.push_back(static_cast<char>(byte_of_piece(entry.piece)));
      continue;
    }
    flush_bytes();
    if (prefix_seen || !text.empty()) expect_prefix = false;
    prefix_seen = false;
    if (entry.type == PieceType::kControl) continue;
    if (entry.type == PieceType::kUnknown) {
      text += model_.trainer.unk_surface;
      continue;
    }
    std::string_view piece = entry.piece;
    if (expect_prefix && piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
      piece.remove_prefix(kSpaceSymbol.size());
      prefix_seen = !normalizer.remove_extra_whitespaces;
    }
    for (std::size_t pos = 0; pos < piece.size();) {
      if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
        text.push_back(' ');
        pos += kSpaceSymbol.size();
      } else {
        text.push_back(piece[pos++]);
      }
    }
  }
  flush_bytes();
  return text;
}

}  // namespace privprobe
