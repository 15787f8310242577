// tokenizer.model parsing and writing: round trips, every malformed input rejected with a
// FormatError naming the file, and random corruption never crashing.
#include <gtest/gtest.h>

#include <functional>

#include "support/test_support.h"
#include "text/protobuf_wire.h"
#include "text/sentencepiece_model.h"
#include "text/sentencepiece_tokenizer.h"
#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

const std::string kSp = "\xE2\x96\x81";

BpeModelSpec small_spec() {
  BpeModelSpec spec;
  spec.pieces = {{kSp + "the", 0.0f}, {"th", -1.0f}, {kSp, -2.0f}, {"t", -3.0f}, {"h", -4.0f}, {"e", -5.0f}};
  return spec;
}

void expect_format_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no FormatError, expected one about '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.model"), std::string::npos) << "must name the file: " << e.what();
  }
}

// A ModelProto built field by field, for inputs our writer would never produce.
struct RawModel {
  ProtoWriter writer;
  RawModel& piece(const std::string& text, float score, int type) {
    ProtoWriter p;
    p.add_bytes(1, text);
    p.add_float(2, score);
    p.add_int32(3, type);
    writer.add_bytes(1, p.bytes());
    return *this;
  }
  RawModel& trainer(const ProtoWriter& t) {
    writer.add_bytes(2, t.bytes());
    return *this;
  }
  std::string bytes() const { return writer.bytes(); }
};

TEST(SentencePieceModel, BuiltModelHasTheDocumentedLayout) {
  const SentencePieceModel model = build_bpe_model(small_spec());
  ASSERT_EQ(model.pieces.size(), 4u + 1u + 256u + 6u);
  EXPECT_EQ(model.pieces[kSpmUnkId].piece, "<unk>");
  EXPECT_EQ(model.pieces[kSpmUnkId].type, PieceType::kUnknown);
  EXPECT_EQ(model.pieces[kSpmBosId].piece, "<s>");
  EXPECT_EQ(model.pieces[kSpmEosId].piece, "</s>");
  EXPECT_EQ(model.pieces[kSpmPadId].piece, "<pad>");
  EXPECT_EQ(model.pieces[kSpmPadId].type, PieceType::kControl);
  EXPECT_EQ(model.pieces[kSpmFirstUserDefinedId].piece, "<image>");
  EXPECT_EQ(model.pieces[kSpmFirstUserDefinedId].type, PieceType::kUserDefined);
  EXPECT_EQ(model.pieces[5].piece, "<0x00>");
  EXPECT_EQ(model.pieces[5 + 255].piece, "<0xFF>");
  EXPECT_EQ(model.pieces[261].piece, kSp + "the");
  EXPECT_EQ(model.trainer.model_type, SentencePieceAlgorithm::kBpe);
  EXPECT_TRUE(model.trainer.byte_fallback);
  EXPECT_EQ(model.trainer.vocab_size, 267);
  EXPECT_EQ(model.normalizer.name, "identity");
  EXPECT_TRUE(model.normalizer.add_dummy_prefix);
  EXPECT_FALSE(model.normalizer.remove_extra_whitespaces);
}

TEST(SentencePieceModel, WriteThenReadRoundTrips) {
  test::TempDir dir("spmodel");
  SentencePieceModel model = build_bpe_model(small_spec());
  model.pieces[262].score = -1.25f;
  model.trainer.unk_surface = "?";
  model.trainer.control_symbols = {"<ctl>"};
  write_sentencepiece_model(dir / "tokenizer.model", model);
  const SentencePieceModel back = read_sentencepiece_model(dir / "tokenizer.model");
  ASSERT_EQ(back.pieces.size(), model.pieces.size());
  for (std::size_t i = 0; i < model.pieces.size(); ++i) {
    EXPECT_EQ(back.pieces[i].piece, model.pieces[i].piece);
    EXPECT_EQ(back.pieces[i].score, model.pieces[i].score);
    EXPECT_EQ(back.pieces[i].type, model.pieces[i].type);
  }
  EXPECT_EQ(back.trainer.unk_surface, "?");
  EXPECT_EQ(back.trainer.control_symbols, model.trainer.control_symbols);
  EXPECT_EQ(back.trainer.user_defined_symbols, model.trainer.user_defined_symbols);
  EXPECT_EQ(back.trainer.pad_id, kSpmPadId);
  EXPECT_EQ(back.normalizer.add_dummy_prefix, model.normalizer.add_dummy_prefix);
  EXPECT_EQ(back.normalizer.remove_extra_whitespaces, model.normalizer.remove_extra_whitespaces);
  // Writing is deterministic.
  EXPECT_EQ(serialize_sentencepiece_model(back), serialize_sentencepiece_model(model));
}

TEST(SentencePieceModel, ProtoDefaultsApplyToAbsentFields) {
  ProtoWriter trainer;
  trainer.add_int32(3, 2);  // BPE
  const SentencePieceModel model = parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("a", 0, 1).trainer(trainer).bytes(),
                                                             "bad.model");
  EXPECT_EQ(model.trainer.pad_id, -1);
  EXPECT_EQ(model.trainer.bos_id, 1);
  EXPECT_FALSE(model.trainer.byte_fallback);
  EXPECT_EQ(model.trainer.unk_surface, " \xE2\x81\x87 ");
  EXPECT_TRUE(model.normalizer.add_dummy_prefix);
  EXPECT_TRUE(model.normalizer.remove_extra_whitespaces);
  EXPECT_TRUE(model.normalizer.escape_whitespaces);
  // A model without <s> and </s> pieces has no BOS/EOS.
  const SentencePieceTokenizer tokenizer(model, "bad.model");
  EXPECT_EQ(tokenizer.bos_id(), -1);
  EXPECT_EQ(tokenizer.pad_id(), -1);
}

TEST(SentencePieceModel, UnknownFieldsAreSkipped) {
  RawModel raw;
  raw.piece("<unk>", 0, 2).piece("a", 0, 1);
  raw.writer.add_bytes(4, "self test data");
  raw.writer.add_varint(200, 7);
  raw.writer.add_fixed64(201, 7);
  ProtoWriter trainer;
  trainer.add_bytes(1, "corpus.txt");  // input
  trainer.add_float(10, 0.9995f);      // character_coverage
  trainer.add_int32(3, 2);
  raw.trainer(trainer);
  const SentencePieceModel model = parse_sentencepiece_model(raw.bytes(), "bad.model");
  EXPECT_EQ(model.pieces.size(), 2u);
  EXPECT_EQ(model.trainer.model_type, SentencePieceAlgorithm::kBpe);
}

TEST(SentencePieceModel, MalformedFilesAreRejected) {
  expect_format_error([] { parse_sentencepiece_model("", "bad.model"); }, "empty");
  expect_format_error([] { parse_sentencepiece_model("this is not a model at all", "bad.model"); }, "bad.model");
  expect_format_error([] { parse_sentencepiece_model(RawModel().piece("a", 0, 1).bytes(), "bad.model"); },
                      "no unknown piece");
  expect_format_error([] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("", 0, 1).bytes(), "bad.model"); },
                      "piece 1 is empty");
  expect_format_error(
      [] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("a", 0, 1).piece("a", 0, 1).bytes(), "bad.model"); },
      "defined twice");
  expect_format_error(
      [] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("<u>", 0, 2).bytes(), "bad.model"); },
      "second unknown piece");
  expect_format_error([] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("a", 0, 9).bytes(), "bad.model"); },
                      "unknown type 9");
  expect_format_error([] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("<0x41>", 0, 6).bytes(), "bad.model"); },
                      "byte_fallback is off");
  ProtoWriter fallback;
  fallback.add_bool(35, true);
  expect_format_error(
      [&] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).piece("<0xZZ>", 0, 6).trainer(fallback).bytes(), "bad.model"); },
      "not a byte piece");
  ProtoWriter bad_type;
  bad_type.add_int32(3, 7);
  expect_format_error([&] { parse_sentencepiece_model(RawModel().piece("<unk>", 0, 2).trainer(bad_type).bytes(), "bad.model"); },
                      "model_type has unknown value 7");
  // A known field with the wrong wire type.
  RawModel wrong;
  wrong.writer.add_varint(1, 5);
  expect_format_error([&] { parse_sentencepiece_model(wrong.bytes(), "bad.model"); }, "wire type");
}

TEST(SentencePieceModel, TruncatedFilesAreRejected) {
  const std::string full = serialize_sentencepiece_model(build_bpe_model(small_spec()));
  int rejected = 0;
  for (std::size_t cut = 1; cut < full.size(); ++cut) {
    try {
      // Cuts between top-level fields leave a shorter but well-formed model; all others must fail.
      parse_sentencepiece_model(std::string_view(full).substr(0, cut), "bad.model");
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, static_cast<int>(full.size() * 9 / 10));
  expect_format_error([&] { parse_sentencepiece_model(full.substr(0, full.size() - 3), "bad.model"); }, "bad.model");
}

TEST(SentencePieceModel, MissingFileIsAnIoError) {
  test::TempDir dir("spmodel");
  EXPECT_THROW(read_sentencepiece_model(dir / "absent.model"), IoError);
  EXPECT_THROW(SentencePieceTokenizer::load(dir / "absent.model"), IoError);
  test::write_text(dir / "bad.model", "\x0a\x05garbage that does not parse");
  EXPECT_THROW(SentencePieceTokenizer::load(dir / "bad.model"), FormatError);
}

TEST(SentencePieceModel, RandomCorruptionNeverCrashes) {
  const std::string valid = serialize_sentencepiece_model(build_bpe_model(small_spec()));
  Rng rng(1234);
  int parsed = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = valid;
    const auto flips = rng.range(1, 4);
    for (std::int64_t f = 0; f < flips; ++f) {
      bytes[static_cast<std::size_t>(rng.below(bytes.size()))] = static_cast<char>(rng.below(256));
    }
    if (rng.bernoulli(0.2)) bytes.resize(static_cast<std::size_t>(rng.below(bytes.size())));
    try {
      const SentencePieceTokenizer tokenizer(parse_sentencepiece_model(bytes, "fuzz.model"), "fuzz.model");
      const std::vector<int> ids = tokenizer.encode("the other <image> \xC3\xA9 \xFF");
      tokenizer.decode(ids);
      ++parsed;
    } catch (const FormatError&) {
    }
  }
  EXPECT_GT(parsed, 0);  // some corruptions only change scores or piece text
}

TEST(SentencePieceModel, BuilderRejectsBadVocabularies) {
  BpeModelSpec spec = small_spec();
  spec.pieces.emplace_back("th", 0.0f);
  EXPECT_THROW(build_bpe_model(spec), DataError);
  spec = small_spec();
  spec.pieces.emplace_back("<s>", 0.0f);
  EXPECT_THROW(build_bpe_model(spec), DataError);
  spec = small_spec();
  spec.pieces.emplace_back("<0x41>", 0.0f);
  EXPECT_THROW(build_bpe_model(spec), DataError);
  spec = small_spec();
  spec.pieces.emplace_back("", 0.0f);
  EXPECT_THROW(build_bpe_model(spec), DataError);
  spec = small_spec();
  spec.pieces.emplace_back("\xFF", 0.0f);
  EXPECT_THROW(build_bpe_model(spec), DataError);
  spec = small_spec();
  spec.user_defined_symbols = {"<image>", "<image>"};
  EXPECT_THROW(build_bpe_model(spec), DataError);
}

TEST(SentencePieceModel, BytePieceNames) {
  EXPECT_EQ(byte_piece(0), "<0x00>");
  EXPECT_EQ(byte_piece(0xAB), "<0xAB>");
  EXPECT_EQ(byte_of_piece("<0xAB>"), 0xAB);
  EXPECT_EQ(byte_of_piece("<0xab>"), 0xAB);
  EXPECT_EQ(byte_of_piece("<0xG0>"), -1);
  EXPECT_EQ(byte_of_piece("<0x0>"), -1);
  EXPECT_EQ(byte_of_piece("<0x000>"), -1);
  EXPECT_EQ(byte_of_piece("0xAB"), -1);
}

}  // namespace
}  // namespace privprobe
