// The tokenizer on small hand-made models whose right answers can be worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "text/sentencepiece_model.h"
#include "text/sentencepiece_normalizer.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/spm_train.h"
#include "text/subprocess.h"
#include "text/utf8.h"
#include "util/error.h"

namespace privprobe {
namespace {

const std::string kSp = "\xE2\x96\x81";  // ▁

SentencePieceTokenizer make_bpe(std::vector<std::pair<std::string, float>> pieces,
                                std::vector<std::string> user_defined = {"<image>"},
                                bool remove_extra_whitespaces = false) {
  BpeModelSpec spec;
  spec.pieces = std::move(pieces);
  spec.user_defined_symbols = std::move(user_defined);
  spec.remove_extra_whitespaces = remove_extra_whitespaces;
  return SentencePieceTokenizer(build_bpe_model(spec), "unit.model");
}

std::vector<std::string> pieces_of(const SentencePieceTokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode_as_pieces(text);
}

using Pieces = std::vector<std::string>;

// utf8_encode is the inverse of utf8_decode_at for every length, and invalid code points become U+FFFD.
TEST(Utf8, EncodeRoundTripsThroughDecode) {
  for (char32_t c : {U'a', U'\u00E9', U'\u20AC', U'\U0001F600', char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF},
                     char32_t{0x800}, char32_t{0xFFFF}, char32_t{0x10000}, char32_t{0x10FFFF}}) {
    const std::string bytes = utf8_encode(c);
    std::size_t length = 0;
    ASSERT_TRUE(utf8_decode_at(bytes, 0, length)) << static_cast<unsigned>(c);
    EXPECT_EQ(length, bytes.size()) << static_cast<unsigned>(c);
    EXPECT_TRUE(is_valid_utf8(bytes)) << static_cast<unsigned>(c);
  }
  EXPECT_EQ(utf8_encode(U'\u00E9'), "\xC3\xA9");
  EXPECT_EQ(utf8_encode(U'\U0001F600'), "\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8_encode(char32_t{0xD800}), std::string(kUtf8Replacement));
  EXPECT_EQ(utf8_encode(char32_t{0x110000}), std::string(kUtf8Replacement));
}

TEST(Tokenizer, MergesTheHighestScoringPairFirst) {
  // "abc": "bc" (score 0) beats "ab" (-1), so the result is a + bc, not ab + c.
  const auto tokenizer = make_bpe({{"bc", 0.0f}, {"ab", -1.0f}, {kSp, -2.0f}, {"a", -3.0f}, {"b", -4.0f}, {"c", -5.0f}});
  EXPECT_EQ(pieces_of(tokenizer, "abc"), (Pieces{kSp, "a", "bc"}));
}

TEST(Tokenizer, EqualScoresMergeLeftmostFirst) {
  // "aaa" with only "aa": the left pair merges, leaving "aa" + "a".
  const auto tokenizer = make_bpe({{"aa", 0.0f}, {kSp, -1.0f}, {"a", -2.0f}});
  EXPECT_EQ(pieces_of(tokenizer, "aaa"), (Pieces{kSp, "aa", "a"}));
  EXPECT_EQ(pieces_of(tokenizer, "aaaa"), (Pieces{kSp, "aa", "aa"}));
}

TEST(Tokenizer, MergesChainThroughNewPieces) {
  const auto tokenizer = make_bpe({{kSp + "t", 0.0f}, {"he", -1.0f}, {kSp + "the", -2.0f}, {kSp, -3.0f}, {"t", -4.0f},
                                   {"h", -5.0f}, {"e", -6.0f}});
  EXPECT_EQ(pieces_of(tokenizer, "the the"), (Pieces{kSp + "the", kSp + "the"}));
  EXPECT_EQ(pieces_of(tokenizer, "het"), (Pieces{kSp, "he", "t"}));
}

TEST(Tokenizer, UserDefinedSymbolsAreAtomicAndLongestMatchWins) {
  const auto tokenizer = make_bpe({{"<", 0.0f}, {"i", -1.0f}, {"m", -2.0f}, {kSp, -3.0f}}, {"<im", "<image>"});
  const int image = tokenizer.require_id("<image>");
  const int im = tokenizer.require_id("<im");
  EXPECT_EQ(tokenizer.encode("<image>")[1], image);
  EXPECT_EQ(pieces_of(tokenizer, "<image><im<i"), (Pieces{kSp, "<image>", "<im", "<", "i"}));
  EXPECT_NE(image, im);
  // A user-defined symbol never merges with its neighbours even when the merge is a piece.
  const auto merging = make_bpe({{"x<image>", 0.0f}, {"x", -1.0f}, {kSp, -2.0f}}, {"<image>"});
  EXPECT_EQ(pieces_of(merging, "x<image>"), (Pieces{kSp, "x", "<image>"}));
}

TEST(Tokenizer, UnknownCharactersFallBackToUtf8Bytes) {
  const auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}});
  // "é" = C3 A9, "😀" = F0 9F 98 80.
  EXPECT_EQ(pieces_of(tokenizer, "a\xC3\xA9"), (Pieces{kSp, "a", "<0xC3>", "<0xA9>"}));
  EXPECT_EQ(pieces_of(tokenizer, "\xF0\x9F\x98\x80"), (Pieces{kSp, "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xC3\xA9\xF0\x9F\x98\x80")), "a\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(Tokenizer, MalformedUtf8BecomesReplacementCharacter) {
  const auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}});
  EXPECT_EQ(pieces_of(tokenizer, "a\xFF"), (Pieces{kSp, "a", "<0xEF>", "<0xBF>", "<0xBD>"}));
  // A truncated sequence: each byte on its own.
  EXPECT_EQ(pieces_of(tokenizer, "\xC3"), (Pieces{kSp, "<0xEF>", "<0xBF>", "<0xBD>"}));
}

TEST(Tokenizer, SpacesAreEscapedAndKeptWithoutRemoveExtraWhitespaces) {
  const auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}});
  EXPECT_EQ(pieces_of(tokenizer, " a  a "), (Pieces{kSp, kSp, "a", kSp, kSp, "a", kSp}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(" a  a ")), " a  a ");
  EXPECT_TRUE(tokenizer.encode("").empty());
}

TEST(Tokenizer, RemoveExtraWhitespacesCollapsesAndStrips) {
  const auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}}, {"<image>"}, true);
  EXPECT_EQ(pieces_of(tokenizer, "  a   a  "), (Pieces{kSp, "a", kSp, "a"}));
  EXPECT_TRUE(tokenizer.encode("    ").empty());
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("  a   a  ")), "a a");
}

TEST(Tokenizer, DecodeHandlesSpecialPieces) {
  const auto tokenizer = make_bpe({{kSp + "a", 0.0f}, {kSp, -1.0f}, {"a", -2.0f}});
  const int a = *tokenizer.id_of(kSp + "a");
  EXPECT_EQ(tokenizer.decode({tokenizer.bos_id(), a, a, tokenizer.eos_id(), tokenizer.pad_id()}), "a a");
  EXPECT_EQ(tokenizer.decode({a, tokenizer.unk_id(), a}), "a \xE2\x81\x87  a");
  // An incomplete byte sequence decodes to U+FFFD per byte.
  EXPECT_EQ(tokenizer.decode({*tokenizer.id_of("<0xC3>"), a}), "\xEF\xBF\xBD a");
  EXPECT_EQ(tokenizer.decode({}), "");
  EXPECT_THROW(tokenizer.decode({tokenizer.vocab_size()}), DataError);
  EXPECT_THROW(tokenizer.decode({-1}), DataError);
  EXPECT_THROW(tokenizer.piece(1 << 30), DataError);
}

TEST(Tokenizer, OnlyOneDummyPrefixIsStrippedWhenDecoding) {
  // "  a" encodes to ▁ ▁ ▁a (no "▁▁" piece): decoding gives back both spaces.
  const auto tokenizer = make_bpe({{kSp + "a", 0.0f}, {kSp, -1.0f}, {"a", -2.0f}});
  EXPECT_EQ(pieces_of(tokenizer, "  a"), (Pieces{kSp, kSp, kSp + "a"}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("  a")), "  a");
}

TEST(Tokenizer, SpecialIdsAndLookups) {
  const auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}});
  EXPECT_EQ(tokenizer.unk_id(), kSpmUnkId);
  EXPECT_EQ(tokenizer.bos_id(), kSpmBosId);
  EXPECT_EQ(tokenizer.eos_id(), kSpmEosId);
  EXPECT_EQ(tokenizer.pad_id(), kSpmPadId);
  EXPECT_TRUE(tokenizer.is_control(kSpmBosId));
  EXPECT_FALSE(tokenizer.is_control(kSpmUnkId));
  EXPECT_EQ(tokenizer.vocab_size(), 4 + 1 + 256 + 2);
  EXPECT_EQ(tokenizer.id_of("<0x41>"), 4 + 1 + 0x41);
  EXPECT_FALSE(tokenizer.id_of("zzz").has_value());
  EXPECT_THROW(tokenizer.require_id("<video>"), DataError);
  // Control pieces typed into the text are not special for SentencePiece: they are spelled out.
  const std::vector<int> typed = tokenizer.encode("<s>");
  EXPECT_EQ(std::count(typed.begin(), typed.end(), kSpmBosId), 0);
}

TEST(Tokenizer, CopiesShareTheModelSafely) {
  auto original = std::make_unique<SentencePieceTokenizer>(make_bpe({{"ab", 0.0f}, {kSp, -1.0f}, {"a", -2.0f}, {"b", -3.0f}}));
  const SentencePieceTokenizer copy = *original;
  const std::vector<int> expected = original->encode("abab");
  original.reset();
  EXPECT_EQ(copy.encode("abab"), expected);
}

TEST(Tokenizer, AddedTokensAreMatchedBeforeTheModel) {
  auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}, {"<", -2.0f}, {">", -3.0f}, {"p", -4.0f}}, {});
  const int base = tokenizer.vocab_size();
  tokenizer.add_token({"<image>", base});
  tokenizer.add_token({"<pad>", base + 1});  // also a control piece of the model: the added id wins
  EXPECT_EQ(tokenizer.vocab_size(), base + 2);
  const std::vector<int> ids = tokenizer.encode("a<image>a");
  // Legacy: each stretch of text gets its own dummy prefix.
  const int sp = *tokenizer.id_of(kSp), a = *tokenizer.id_of("a");
  EXPECT_EQ(ids, (std::vector<int>{sp, a, base, sp, a}));
  EXPECT_EQ(tokenizer.decode(ids), "a<image>a");
  EXPECT_EQ(tokenizer.encode("<pad>"), (std::vector<int>{base + 1}));
  EXPECT_EQ(*tokenizer.id_of("<pad>"), base + 1);
  EXPECT_EQ(tokenizer.piece(base), "<image>");

  tokenizer.set_legacy(false);
  const std::vector<int> modern = tokenizer.encode("a<image>a");
  EXPECT_EQ(modern, (std::vector<int>{sp, a, base, a}));
  EXPECT_EQ(tokenizer.decode(modern), "a<image>a");
  EXPECT_EQ(tokenizer.encode("<image>a"), (std::vector<int>{base, a}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("<image> a")), "<image> a");
}

TEST(Tokenizer, AddedTokenStripFlagsSwallowWhitespace) {
  auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}}, {});
  const int base = tokenizer.vocab_size();
  tokenizer.add_token({"<x>", base, /*lstrip=*/true, /*rstrip=*/true});
  const int sp = *tokenizer.id_of(kSp), a = *tokenizer.id_of("a");
  EXPECT_EQ(tokenizer.encode("a  <x> \n a"), (std::vector<int>{sp, a, base, sp, a}));
}

TEST(Tokenizer, AddedTokenConflictsAreRejected) {
  auto tokenizer = make_bpe({{kSp, 0.0f}, {"a", -1.0f}}, {});
  const int base = tokenizer.vocab_size();
  tokenizer.add_token({"<image>", base});
  tokenizer.add_token({"<image>", base});  // the same token from a second file is fine
  EXPECT_THROW(tokenizer.add_token({"<video>", base}), DataError);
  EXPECT_THROW(tokenizer.add_token({"<image>", base + 1}), DataError);
  EXPECT_THROW(tokenizer.add_token({"<s>", 0}), DataError);  // id 0 is <unk> in the model
  EXPECT_THROW(tokenizer.add_token({"", base + 2}), DataError);
  EXPECT_THROW(tokenizer.add_token({"<neg>", -5}), DataError);
  tokenizer.add_token({"<s>", kSpmBosId});  // agrees with the model
  // A gap in the ids is allowed, but the missing ids are outside the vocabulary.
  tokenizer.add_token({"<far>", base + 10});
  EXPECT_EQ(tokenizer.vocab_size(), base + 11);
  EXPECT_THROW(tokenizer.decode({base + 5}), DataError);
}

TEST(Tokenizer, UnsupportedModelKindsAreRefusedAtLoad) {
  BpeModelSpec spec;
  spec.pieces = {{kSp, 0.0f}};
  SentencePieceModel model = build_bpe_model(spec);
  model.trainer.model_type = SentencePieceAlgorithm::kWord;
  EXPECT_THROW(SentencePieceTokenizer(model, "word.model"), FormatError);
  model.trainer.model_type = SentencePieceAlgorithm::kChar;
  EXPECT_THROW(SentencePieceTokenizer(model, "char.model"), FormatError);
  model.trainer.model_type = SentencePieceAlgorithm::kBpe;
  model.trainer.treat_whitespace_as_suffix = true;
  EXPECT_THROW(SentencePieceTokenizer(model, "suffix.model"), FormatError);
}

TEST(Normalizer, CharsMapRejectsInconsistentBlobs) {
  EXPECT_THROW(PrecompiledCharsMap(std::string("\x01\x00", 2), "x.model"), FormatError);
  // Trie size larger than the blob.
  EXPECT_THROW(PrecompiledCharsMap(std::string("\x40\x00\x00\x00\x00\x00\x00\x00", 8), "x.model"), FormatError);
  // Trie size not a multiple of 4.
  EXPECT_THROW(PrecompiledCharsMap(std::string("\x03\x00\x00\x00\x00\x00\x00\x00", 8), "x.model"), FormatError);
  // A trie whose root points outside itself fails when used, not by crashing.
  const PrecompiledCharsMap broken(std::string("\x04\x00\x00\x00\xff\xff\xff\xff\x00", 9), "x.model");
  EXPECT_THROW(broken.longest_match("abc", 0), FormatError);
}

}  // namespace
}  // namespace privprobe

namespace privprobe {
namespace {

TEST(SpmTrain, MissingProgramAndBadOptionsAreReported) {
  SpmTrainConfig config;
  config.corpus = "corpus.txt";
  config.output = "tokenizer.model";
  config.program = "spm_train_that_does_not_exist";
  EXPECT_FALSE(spm_train_available(config.program));
  EXPECT_THROW(train_sentencepiece(config), IoError);
  config.user_defined_symbols = {"<a>,<b>"};
  EXPECT_THROW(config.validate(), ConfigError);
  config.user_defined_symbols = {""};
  EXPECT_THROW(config.validate(), ConfigError);
  config.user_defined_symbols = {"<image>"};
  config.model_type = SentencePieceAlgorithm::kWord;
  EXPECT_THROW(config.validate(), ConfigError);
  config.model_type = SentencePieceAlgorithm::kBpe;
  config.character_coverage = 0.0;
  EXPECT_THROW(config.validate(), ConfigError);
  config.character_coverage = 1.0;
  config.corpus.clear();
  EXPECT_THROW(config.validate(), ConfigError);
}

TEST(Subprocess, RunsProgramsWithoutAShell) {
  EXPECT_TRUE(find_program("sh").is_absolute());
  EXPECT_TRUE(find_program("no_such_program_here").empty());
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "exit 3"};
  EXPECT_EQ(run_process(spec), 3);
  spec.argv = {"no_such_program_here"};
  EXPECT_THROW(run_process(spec), IoError);
  spec.argv = {"sh", "-c", "true"};
  spec.stdin_file = "/definitely/missing/input.txt";
  EXPECT_THROW(run_process(spec), IoError);
}

}  // namespace
}  // namespace privprobe
