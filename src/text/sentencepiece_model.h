// SentencePiece model files (`tokenizer.model`): the ModelProto message of
// google/sentencepiece's sentencepiece_model.proto, parsed and written with our own protobuf
// wire-format code. Only the fields that change encoding or decoding are kept (plus the few the
// writer needs for spm_encode to load the file); other fields are skipped on reading.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privprobe {

// ModelProto.SentencePiece.Type (numbers as on the wire).
enum class PieceType : std::int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,  // <s>, </s>, <pad>: never produced by encoding, invisible when decoding
  kUserDefined = 4,  // always one token wherever it appears in the text (e.g. "<image>")
  kUnused = 5,
  kByte = 6,  // "<0xAB>": byte fallback for characters outside the vocabulary
};

// TrainerSpec.ModelType.
enum class SentencePieceAlgorithm : std::int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SentencePieceEntry {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

// TrainerSpec fields; defaults are the proto's.
struct SentencePieceTrainerSpec {
  SentencePieceAlgorithm model_type = SentencePieceAlgorithm::kUnigram;
  std::int32_t vocab_size = 8000;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::int32_t unk_id = 0;
  std::int32_t bos_id = 1;
  std::int32_t eos_id = 2;
  std::int32_t pad_id = -1;
  std::string unk_piece = "<unk>";
  std::string bos_piece = "<s>";
  std::string eos_piece = "</s>";
  std::string pad_piece = "<pad>";
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ", what decoding prints for <unk>
  std::vector<std::string> user_defined_symbols;
  std::vector<std::string> control_symbols;
};

// NormalizerSpec fields; defaults are the proto's.
struct SentencePieceNormalizerSpec {
  std::string name;
  std::string precompiled_charsmap;  // empty = identity (no character mapping)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

struct SentencePieceModel {
  std::vector<SentencePieceEntry> pieces;  // the id of a piece is its index
  SentencePieceTrainerSpec trainer;
  SentencePieceNormalizerSpec normalizer;
  bool has_denormalizer = false;  // a denormalizer_spec with its own character map
};

// Parses a serialised ModelProto. Throws FormatError naming `source` and what is wrong: bad wire
// format, a wrong type for a known field, an unknown piece type or model type, an empty piece.
// Semantic checks (one <unk>, no duplicates, valid byte pieces) are done by
// validate_sentencepiece_model, which this calls.
SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& source);

// Reads and parses a file. Throws IoError (unreadable) or FormatError (naming the file).
SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path);

// The checks SentencePiece itself makes when loading: non-empty pieces, no piece defined twice
// among the normal (normal, user-defined, unused) or the reserved (unknown, control, byte) pieces,
// exactly one unknown piece, byte pieces named "<0xHH>" and only with byte_fallback.
// Throws FormatError naming `source`.
void validate_sentencepiece_model(const SentencePieceModel& model, const std::string& source);

// Serialises to the wire format. Fields are written explicitly (even at their defaults), so a
// reader need not know the defaults. Unknown fields of a parsed file are not kept: copy a
// checkpoint's tokenizer.model as bytes rather than re-serialising it.
std::string serialize_sentencepiece_model(const SentencePieceModel& model);

// Atomically writes serialize_sentencepiece_model(model). Throws IoError.
void write_sentencepiece_model(const std::filesystem::path& path, const SentencePieceModel& model);

// What build_bpe_model needs: the vocabulary beyond the fixed special pieces.
struct BpeModelSpec {
  // Normal pieces with their merge scores (higher merges first), written in this order after the
  // special and byte pieces. Every character the text may contain should be a piece; the rest is
  // encoded as bytes.
  std::vector<std::pair<std::string, float>> pieces;
  std::vector<std::string> user_defined_symbols = {"<image>"};
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;  // as Llama: keep every space so decoding restores them
};

// Fixed ids of the pieces build_bpe_model writes (the same layout spm_train produces with
// --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3 --user_defined_symbols=... --byte_fallback=true):
// 0 "<unk>", 1 "<s>", 2 "</s>", 3 "<pad>", then the user-defined symbols from id 4, then the 256
// byte pieces "<0x00>".."<0xFF>", then spec.pieces.
inline constexpr int kSpmUnkId = 0;
inline constexpr int kSpmBosId = 1;
inline constexpr int kSpmEosId = 2;
inline constexpr int kSpmPadId = 3;
inline constexpr int kSpmFirstUserDefinedId = 4;

// A BPE model with byte fallback and the identity normaliser (dummy prefix, spaces escaped as
// U+2581), loadable by any SentencePiece implementation. Throws DataError for an empty or
// duplicate piece, invalid UTF-8, or a piece that collides with a special or byte piece.
SentencePieceModel build_bpe_model(const BpeModelSpec& spec);

// "<0xAB>" for 0xAB, and back (-1 when `piece` is not of that form).
std::string byte_piece(std::uint8_t byte);
int byte_of_piece(std::string_view piece);

}  // namespace privprobe
