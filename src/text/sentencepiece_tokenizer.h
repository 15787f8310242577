// A SentencePiece tokenizer applied by privprobe itself (no libsentencepiece: see DESIGN.md).
// Encoding follows SentencePiece 0.1.9x exactly for BPE models (Llama's tokenizer, ours) and
// unigram models (spm_train's default): normalise, split into characters with user-defined symbols
// kept whole, merge (BPE) or pick the best-scoring segmentation (unigram), and spell characters
// outside the vocabulary as byte pieces "<0xAB>" when the model has byte fallback.
//
// Tokens added on top of the model (Hugging Face's added_tokens.json, e.g. "<image>" = 32000 in
// llava-hf checkpoints) are matched first and always give their own id; the text between them is
// encoded by the model. `legacy` follows Hugging Face's LlamaTokenizer flag: true, every stretch of
// text between added tokens gets the dummy prefix "▁"; false, only the first one does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/sentencepiece_model.h"

namespace privprobe {

class SentencePieceCore;

struct AddedToken {
  std::string content;
  int id = -1;
  bool lstrip = false;  // swallow the whitespace before the token (Hugging Face AddedToken.lstrip)
  bool rstrip = false;  // swallow the whitespace after it
};

class SentencePieceTokenizer {
 public:
  // Reads a tokenizer.model. Throws IoError, or FormatError naming the file (malformed, or a
  // feature we do not implement: WORD/CHAR models, whitespace as suffix, a denormaliser).
  static SentencePieceTokenizer load(const std::filesystem::path& path);
  // `source` names the model in errors.
  SentencePieceTokenizer(SentencePieceModel model, std::string source);

  // Token ids of `text` (any bytes; malformed UTF-8 is encoded as U+FFFD). No BOS/EOS added.
  std::vector<int> encode(std::string_view text) const;
  // The same, as piece strings (added tokens as their content).
  std::vector<std::string> encode_as_pieces(std::string_view text) const;
  // Text of `ids`: byte pieces reassembled into UTF-8 (invalid sequences as U+FFFD), "▁" as a
  // space, the dummy prefix removed, control pieces (BOS/EOS/PAD) invisible, <unk> as " ⁇ ",
  // added tokens as their content. Throws DataError for an id outside the vocabulary.
  std::string decode(const std::vector<int>& ids) const;

  // Piece of an id (an added token's content). Throws DataError when out of range.
  const std::string& piece(int id) const;
  // Id of a piece or added token, if it exists.
  std::optional<int> id_of(std::string_view piece) const;
  // Id of a token that must exist (e.g. "<image>"). Throws DataError naming the tokenizer.
  int require_id(std::string_view token) const;

  // Ids up to the largest one (model pieces and added tokens).
  int vocab_size() const;
  // Pieces in the SentencePiece model alone.
  int model_size() const;
  // -1 when the model has no such piece.
  int unk_id() const;
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  // Override the special ids (Hugging Face's tokenizer_config.json names them). Throws DataError
  // for an id outside the vocabulary; -1 clears.
  void set_bos_id(int id);
  void set_eos_id(int id);
  void set_pad_id(int id);
  bool is_control(int id) const;

  // Registers an atomic token. An id inside the model must name the same piece; an id beyond it
  // extends the vocabulary. Throws DataError on a conflict with an earlier added token or piece.
  void add_token(const AddedToken& token);
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  void set_legacy(bool legacy) { legacy_ = legacy; }
  bool legacy() const { return legacy_; }

  // Whether callers should put BOS/EOS around a prompt (tokenizer_config.json's add_bos_token /
  // add_eos_token; SentencePiece models default to BOS only, as Llama).
  bool add_bos_token() const { return add_bos_token_; }
  bool add_eos_token() const { return add_eos_token_; }
  void set_add_bos_token(bool value) { add_bos_token_ = value; }
  void set_add_eos_token(bool value) { add_eos_token_ = value; }

  const SentencePieceModel& model() const;
  const std::string& source() const;

 private:
  struct Segment {
    std::string_view text;
    int added_index = -1;  // >= 0: this segment is added_[added_index]
  };
  std::vector<Segment> split_on_added(std::string_view text) const;
  const AddedToken* added_by_id(int id) const;

  std::shared_ptr<const SentencePieceCore> core_;  // immutable, shared by copies
  std::vector<AddedToken> added_;
  int bos_id_ = -1;
  int eos_id_ = -1;
  int pad_id_ = -1;
  bool legacy_ = true;
  bool add_bos_token_ = true;
  bool add_eos_token_ = false;
};

}  // namespace privprobe
