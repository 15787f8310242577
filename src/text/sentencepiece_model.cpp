#include "text/sentencepiece_model.h"

#include <cstdio>
#include <set>
#include <unordered_set>

#include "text/protobuf_wire.h"
#include "text/utf8.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {

namespace {

// Field numbers from sentencepiece_model.proto.
namespace model_field {
constexpr std::uint32_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3, kDenormalizerSpec = 5;
}
namespace piece_field {
constexpr std::uint32_t kPiece = 1, kScore = 2, kType = 3;
}
namespace trainer_field {
constexpr std::uint32_t kModelType = 3, kVocabSize = 4, kTreatWhitespaceAsSuffix = 24, kControlSymbols = 30,
                        kUserDefinedSymbols = 31, kByteFallback = 35, kUnkId = 40, kBosId = 41, kEosId = 42,
                        kPadId = 43, kUnkSurface = 44, kUnkPiece = 45, kBosPiece = 46, kEosPiece = 47,
                        kPadPiece = 48;
}
namespace normalizer_field {
constexpr std::uint32_t kName = 1, kPrecompiledCharsmap = 2, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
                        kEscapeWhitespaces = 5;
}

SentencePieceEntry parse_piece(ProtoReader reader, std::size_t index) {
  SentencePieceEntry entry;
  while (reader.next_field()) {
    switch (reader.field_number()) {
      case piece_field::kPiece: entry.piece = reader.read_string(); break;
      case piece_field::kScore: entry.score = reader.read_float(); break;
      case piece_field::kType: {
        const std::int32_t type = reader.read_int32();
        if (type < 1 || type > 6) {
          reader.fail("piece " + std::to_string(index) + " has unknown type " + std::to_string(type));
        }
        entry.type = static_cast<PieceType>(type);
        break;
      }
      default: reader.skip_field();
    }
  }
  return entry;
}

void parse_trainer_spec(ProtoReader reader, SentencePieceTrainerSpec& spec) {
  using namespace trainer_field;
  while (reader.next_field()) {
    switch (reader.field_number()) {
      case kModelType: {
        const std::int32_t type = reader.read_int32();
        if (type < 1 || type > 4) reader.fail("trainer_spec.model_type has unknown value " + std::to_string(type));
        spec.model_type = static_cast<SentencePieceAlgorithm>(type);
        break;
      }
      case kVocabSize: spec.vocab_size = reader.read_int32(); break;
      case kTreatWhitespaceAsSuffix: spec.treat_whitespace_as_suffix = reader.read_bool(); break;
      case kControlSymbols: spec.control_symbols.push_back(reader.read_string()); break;
      case kUserDefinedSymbols: spec.user_defined_symbols.push_back(reader.read_string()); break;
      case kByteFallback: spec.byte_fallback = reader.read_bool(); break;
      case kUnkId: spec.unk_id = reader.read_int32(); break;
      case kBosId: spec.bos_id = reader.read_int32(); break;
      case kEosId: spec.eos_id = reader.read_int32(); break;
      case kPadId: spec.pad_id = reader.read_int32(); break;
      case kUnkSurface: spec.unk_surface = reader.read_string(); break;
      case kUnkPiece: spec.unk_piece = reader.read_string(); break;
      case kBosPiece: spec.bos_piece = reader.read_string(); break;
      case kEosPiece: spec.eos_piece = reader.read_string(); break;
      case kPadPiece: spec.pad_piece = reader.read_string(); break;
      default: reader.skip_field();
    }
  }
}

void parse_normalizer_spec(ProtoReader reader, SentencePieceNormalizerSpec& spec) {
  using namespace normalizer_field;
  while (reader.next_field()) {
    switch (reader.field_number()) {
      case kName: spec.name = reader.read_string(); break;
      case kPrecompiledCharsmap: spec.precompiled_charsmap = reader.read_string(); break;
      case kAddDummyPrefix: spec.add_dummy_prefix = reader.read_bool(); break;
      case kRemoveExtraWhitespaces: spec.remove_extra_whitespaces = reader.read_bool(); break;
      case kEscapeWhitespaces: spec.escape_whitespaces = reader.read_bool(); break;
      default: reader.skip_field();
    }
  }
}

[[noreturn]] void invalid(const std::string& source, const std::string& what) {
  throw FormatError(error_message(source, what, "is this a SentencePiece tokenizer.model?"));
}

}  // namespace

std::string byte_piece(std::uint8_t byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "<0x%02X>", byte);
  return buffer;
}

int byte_of_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (std::size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& source) {
  if (bytes.empty()) invalid(source, "the file is empty");
  SentencePieceModel model;
  ProtoReader reader(bytes, source);
  while (reader.next_field()) {
    switch (reader.field_number()) {
      case model_field::kPieces: model.pieces.push_back(parse_piece(reader.read_message(), model.pieces.size())); break;
      case model_field::kTrainerSpec: parse_trainer_spec(reader.read_message(), model.trainer); break;
      case model_field::kNormalizerSpec: parse_normalizer_spec(reader.read_message(), model.normalizer); break;
      case model_field::kDenormalizerSpec: {
        SentencePieceNormalizerSpec denormalizer;
        parse_normalizer_spec(reader.read_message(), denormalizer);
        model.has_denormalizer = !denormalizer.precompiled_charsmap.empty();
        break;
      }
      default: reader.skip_field();
    }
  }
  validate_sentencepiece_model(model, source);
  return model;
}

SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  return parse_sentencepiece_model(bytes, path.string());
}

void validate_sentencepiece_model(const SentencePieceModel& model, const std::string& source) {
  if (model.pieces.empty()) invalid(source, "the model has no pieces");
  std::unordered_set<std::string_view> normal, reserved;
  int unknown_id = -1;
  for (std::size_t i = 0; i < model.pieces.size(); ++i) {
    const SentencePieceEntry& entry = model.pieces[i];
    const std::string where = "piece " + std::to_string(i);
    if (entry.piece.empty()) invalid(source, where + " is empty");
    const bool is_normal = entry.type == PieceType::kNormal || entry.type == PieceType::kUserDefined ||
                           entry.type == PieceType::kUnused;
    if (!(is_normal ? normal : reserved).insert(entry.piece).second) {
      invalid(source, where + " '" + entry.piece + "' is defined twice");
    }
    if (entry.type == PieceType::kUnknown) {
      if (unknown_id >= 0) invalid(source, where + " is a second unknown piece (the first is " + std::to_string(unknown_id) + ")");
      unknown_id = static_cast<int>(i);
    }
    if (entry.type == PieceType::kByte) {
      if (!model.trainer.byte_fallback) invalid(source, where + " is a byte piece but byte_fallback is off");
      if (byte_of_piece(entry.piece) < 0) invalid(source, where + " '" + entry.piece + "' is not a byte piece <0xHH>");
    }
  }
  if (unknown_id < 0) invalid(source, "the model has no unknown piece (<unk>)");
  if (model.pieces.size() > static_cast<std::size_t>(INT32_MAX)) invalid(source, "too many pieces");
}

std::string serialize_sentencepiece_model(const SentencePieceModel& model) {
  ProtoWriter out;
  for (const SentencePieceEntry& entry : model.pieces) {
    ProtoWriter piece;
    piece.add_bytes(piece_field::kPiece, entry.piece);
    piece.add_float(piece_field::kScore, entry.score);
    piece.add_int32(piece_field::kType, static_cast<std::int32_t>(entry.type));
    out.add_bytes(model_field::kPieces, piece.bytes());
  }
  {
    using namespace trainer_field;
    const SentencePieceTrainerSpec& spec = model.trainer;
    ProtoWriter trainer;
    trainer.add_int32(kModelType, static_cast<std::int32_t>(spec.model_type));
    trainer.add_int32(kVocabSize, spec.vocab_size);
    trainer.add_bool(kTreatWhitespaceAsSuffix, spec.treat_whitespace_as_suffix);
    for (const std::string& symbol : spec.control_symbols) trainer.add_bytes(kControlSymbols, symbol);
    for (const std::string& symbol : spec.user_defined_symbols) trainer.add_bytes(kUserDefinedSymbols, symbol);
    trainer.add_bool(kByteFallback, spec.byte_fallback);
    trainer.add_int32(kUnkId, spec.unk_id);
    trainer.add_int32(kBosId, spec.bos_id);
    trainer.add_int32(kEosId, spec.eos_id);
    trainer.add_int32(kPadId, spec.pad_id);
    trainer.add_bytes(kUnkSurface, spec.unk_surface);
    trainer.add_bytes(kUnkPiece, spec.unk_piece);
    trainer.add_bytes(kBosPiece, spec.bos_piece);
    trainer.add_bytes(kEosPiece, spec.eos_piece);
    trainer.add_bytes(kPadPiece, spec.pad_piece);
    out.add_bytes(model_field::kTrainerSpec, trainer.bytes());
  }
  {
    using namespace normalizer_field;
    const SentencePieceNormalizerSpec& spec = model.normalizer;
    ProtoWriter normalizer;
    normalizer.add_bytes(kName, spec.name);
    if (!spec.precompiled_charsmap.empty()) normalizer.add_bytes(kPrecompiledCharsmap, spec.precompiled_charsmap);
    normalizer.add_bool(kAddDummyPrefix, spec.add_dummy_prefix);
    normalizer.add_bool(kRemoveExtraWhitespaces, spec.remove_extra_whitespaces);
    normalizer.add_bool(kEscapeWhitespaces, spec.escape_whitespaces);
    out.add_bytes(model_field::kNormalizerSpec, normalizer.bytes());
  }
  return out.take();
}

void write_sentencepiece_model(const std::filesystem::path& path, const SentencePieceModel& model) {
  write_file_atomic(path, serialize_sentencepiece_model(model));
}

SentencePieceModel build_bpe_model(const BpeModelSpec& spec) {
  SentencePieceModel model;
  model.trainer.model_type = SentencePieceAlgorithm::kBpe;
  model.trainer.byte_fallback = true;
  model.trainer.unk_id = kSpmUnkId;
  model.trainer.bos_id = kSpmBosId;
  model.trainer.eos_id = kSpmEosId;
  model.trainer.pad_id = kSpmPadId;
  model.trainer.user_defined_symbols = spec.user_defined_symbols;
  model.normalizer.name = "identity";
  model.normalizer.add_dummy_prefix = spec.add_dummy_prefix;
  model.normalizer.remove_extra_whitespaces = spec.remove_extra_whitespaces;
  model.normalizer.escape_whitespaces = true;

  std::set<std::string> taken;
  const auto add = [&](const std::string& piece, float score, PieceType type, const char* what) {
    if (piece.empty()) throw DataError(error_message("tokenizer vocabulary", std::string("an empty ") + what));
    if (!is_valid_utf8(piece)) {
      throw DataError(error_message("tokenizer vocabulary", std::string(what) + " '" + piece + "' is not valid UTF-8"));
    }
    if (!taken.insert(piece).second) {
      throw DataError(error_message("tokenizer vocabulary", std::string(what) + " '" + piece +
                                                                 "' is defined twice or collides with a special piece"));
    }
    model.pieces.push_back({piece, score, type});
  };
  // spm_train gives the special pieces score 0 and so do we.
  add(model.trainer.unk_piece, 0.0f, PieceType::kUnknown, "special piece");
  add(model.trainer.bos_piece, 0.0f, PieceType::kControl, "special piece");
  add(model.trainer.eos_piece, 0.0f, PieceType::kControl, "special piece");
  add(model.trainer.pad_piece, 0.0f, PieceType::kControl, "special piece");
  for (const std::string& symbol : spec.user_defined_symbols) add(symbol, 0.0f, PieceType::kUserDefined, "user-defined symbol");
  for (int byte = 0; byte < 256; ++byte) add(byte_piece(static_cast<std::uint8_t>(byte)), 0.0f, PieceType::kByte, "byte piece");
  for (const auto& [piece, score] : spec.pieces) {
    if (byte_of_piece(piece) >= 0) {
      throw DataError(error_message("tokenizer vocabulary", "piece '" + piece + "' looks like a byte piece"));
    }
    add(piece, score, PieceType::kNormal, "piece");
  }
  model.trainer.vocab_size = static_cast<std::int32_t>(model.pieces.size());
  validate_sentencepiece_model(model, "tokenizer vocabulary");
  return model;
}

}  // namespace privprobe
