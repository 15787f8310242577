// The SentencePiece model as the tokenizer uses it: lookup tables built once from the parsed
// ModelProto, and the segmentation algorithms (BPE: bpe_model.cc, unigram: unigram_model.cc's
// optimised Viterbi) plus decoding (sentencepiece_processor.cc). Internal to src/text: use
// SentencePieceTokenizer.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text/sentencepiece_model.h"
#include "text/sentencepiece_normalizer.h"

namespace privprobe {

class SentencePieceCore {
 public:
  // Throws FormatError naming `source` for models we cannot apply faithfully.
  SentencePieceCore(SentencePieceModel model, std::string source);
  SentencePieceCore(const SentencePieceCore&) = delete;  // the maps hold views into model_
  SentencePieceCore& operator=(const SentencePieceCore&) = delete;

  // Appends the ids of one stretch of text.
  void encode(std::string_view text, bool allow_dummy_prefix, std::vector<int>& ids) const;
  // Text of ids that are all inside the model. `strip_dummy_prefix` removes the leading "▁" the
  // encoder added.
  std::string decode(const int* ids, std::size_t count, bool strip_dummy_prefix) const;

  // SentencePiece's PieceToId: reserved pieces first, then normal ones, else the unknown id.
  int piece_to_id(std::string_view piece) const;
  // Exact lookup, -1 when absent.
  int find_piece(std::string_view piece) const;
  // A control piece named `piece`, -1 when absent (how SentencePiece finds bos/eos/pad).
  int control_id(std::string_view piece) const;

  const SentencePieceModel& model() const { return model_; }
  const std::string& source() const { return source_; }
  int size() const { return static_cast<int>(model_.pieces.size()); }
  int unk_id() const { return unk_id_; }
  PieceType type(int id) const { return model_.pieces[static_cast<std::size_t>(id)].type; }

 private:
  using Segmentation = std::vector<std::pair<std::string_view, int>>;  // (piece text, id)
  Segmentation segment_bpe(std::string_view normalized) const;
  Segmentation segment_unigram(std::string_view normalized) const;

  SentencePieceModel model_;
  std::string source_;
  SentencePieceNormalizer normalizer_;
  std::unordered_map<std::string_view, int> normal_;    // normal, user-defined, unused
  std::unordered_map<std::string_view, int> reserved_;  // unknown, control, byte
  std::array<int, 256> byte_ids_{};
  PrefixMatcher user_defined_;
  int unk_id_ = -1;
  float min_score_ = 0.0f;  // over normal pieces, for the unigram unknown penalty
  float max_score_ = 0.0f;  // over normal pieces, for the unigram user-defined bonus
  std::size_t max_piece_bytes_ = 0;
};

}  // namespace privprobe
