// Our tokenizer against Debian's spm_encode / spm_decode on models trained by spm_train in the
// test: ids must match exactly. Skipped where the sentencepiece tools are absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "spm_reference.h"
#include "support/test_support.h"
#include "text/sentencepiece_model.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/spm_train.h"
#include "util/atomic_file.h"
#include "util/rng.h"
#include "text/utf8.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

using test::probe_strings;
using test::spm_decode_ids;
using test::spm_encode_ids;

std::string join_ids(const std::vector<int>& ids) {
  std::string out;
  for (const int id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

// Random strings over an alphabet that exercises merges, spaces, unknown characters and bytes.
std::vector<std::string> random_strings(std::size_t count, std::uint64_t seed) {
  const std::vector<std::string> alphabet = {"a", "e", "t", "h", "r", "s", " ", " ", "  ", "What", "the", "?", ".",
                                             "1", "0", "9", "-", ":", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80",
                                             "<image>", "<im", "age>", "Kim", "\xE2\x96\x81", "S", "q", "\xFF"};
  Rng rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string s;
    const auto length = rng.range(0, 14);
    for (std::int64_t j = 0; j < length; ++j) s += rng.pick(alphabet);
    out.push_back(s);
  }
  return out;
}

class TokenizerVsSpm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::spm_tools_available()) return;
    dir_ = std::make_unique<test::TempDir>("spm");
    corpus_ = dir_->path() / "corpus.txt";
    std::string text;
    for (const std::string& line : test::synthetic_corpus(600, 7)) text += line + "\n";
    test::write_text(corpus_, text);
    SpmTrainConfig config;
    config.corpus = corpus_;
    config.output = dir_->path() / "bpe" / "tokenizer.model";
    config.vocab_size = 420;
    bpe_model_ = train_sentencepiece(config);
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    if (!test::spm_tools_available()) GTEST_SKIP() << "spm_encode / spm_decode / spm_train not installed";
  }

  // Every string encoded by us and by spm_encode; ids must be equal.
  static void expect_same_ids(const fs::path& model, const std::vector<std::string>& strings) {
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(model);
    const auto reference = spm_encode_ids(model, strings, dir_->path());
    for (std::size_t i = 0; i < strings.size(); ++i) {
      EXPECT_EQ(join_ids(tokenizer.encode(strings[i])), join_ids(reference[i])) << "text: '" << strings[i] << "'";
    }
  }

  // decode(ids) against spm_decode, for the reference's ids.
  static void expect_same_decoding(const fs::path& model, const std::vector<std::string>& strings) {
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(model);
    const auto ids = spm_encode_ids(model, strings, dir_->path());
    const auto decoded = spm_decode_ids(model, ids, dir_->path());
    for (std::size_t i = 0; i < strings.size(); ++i) {
      EXPECT_EQ(tokenizer.decode(ids[i]), decoded[i]) << "ids: " << join_ids(ids[i]) << " text: '" << strings[i] << "'";
    }
  }

  static std::unique_ptr<test::TempDir> dir_;
  static fs::path corpus_;
  static fs::path bpe_model_;
};

std::unique_ptr<test::TempDir> TokenizerVsSpm::dir_;
fs::path TokenizerVsSpm::corpus_;
fs::path TokenizerVsSpm::bpe_model_;

TEST_F(TokenizerVsSpm, TrainedModelHasTheFixedLayout) {
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(bpe_model_);
  EXPECT_EQ(tokenizer.model().trainer.model_type, SentencePieceAlgorithm::kBpe);
  EXPECT_TRUE(tokenizer.model().trainer.byte_fallback);
  EXPECT_EQ(tokenizer.unk_id(), kSpmUnkId);
  EXPECT_EQ(tokenizer.bos_id(), kSpmBosId);
  EXPECT_EQ(tokenizer.eos_id(), kSpmEosId);
  EXPECT_EQ(tokenizer.pad_id(), kSpmPadId);
  EXPECT_EQ(tokenizer.piece(kSpmFirstUserDefinedId), "<image>");
  EXPECT_EQ(tokenizer.piece(kSpmFirstUserDefinedId + 1), "<0x00>");
  EXPECT_EQ(tokenizer.vocab_size(), 420);
  EXPECT_EQ(tokenizer.model().normalizer.name, "identity");
  EXPECT_FALSE(tokenizer.model().normalizer.remove_extra_whitespaces);
}

TEST_F(TokenizerVsSpm, BpeIdsMatchOnProbeStrings) { expect_same_ids(bpe_model_, probe_strings()); }

TEST_F(TokenizerVsSpm, BpeIdsMatchOnRandomStrings) { expect_same_ids(bpe_model_, random_strings(400, 11)); }

TEST_F(TokenizerVsSpm, BpeIdsMatchOnTheTrainingCorpus) { expect_same_ids(bpe_model_, test::synthetic_corpus(200, 99)); }

TEST_F(TokenizerVsSpm, ImageTokenFollowedByANewline) {
  // spm_encode reads lines, so the newline is checked through a tab: both are characters outside
  // the vocabulary that become one byte piece, and nothing else differs.
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(bpe_model_);
  const std::string with_newline = "<image>\nWhat colour is the circle?";
  const std::string with_tab = "<image>\tWhat colour is the circle?";
  std::vector<int> expected = spm_encode_ids(bpe_model_, {with_tab}, dir_->path())[0];
  const int tab = *tokenizer.id_of("<0x09>");
  const int newline = *tokenizer.id_of("<0x0A>");
  ASSERT_EQ(std::count(expected.begin(), expected.end(), tab), 1);
  std::replace(expected.begin(), expected.end(), tab, newline);
  const std::vector<int> ids = tokenizer.encode(with_newline);
  EXPECT_EQ(join_ids(ids), join_ids(expected));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tokenizer.require_id("<image>")), 1);
  EXPECT_EQ(tokenizer.decode(ids), with_newline);
}

TEST_F(TokenizerVsSpm, DecodingMatchesSpmDecode) {
  std::vector<std::string> strings = probe_strings();
  const auto more = random_strings(200, 5);
  strings.insert(strings.end(), more.begin(), more.end());
  expect_same_decoding(bpe_model_, strings);
}

TEST_F(TokenizerVsSpm, DecodeInvertsEncodeOnValidText) {
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(bpe_model_);
  for (const std::string& s : probe_strings()) {
    // Malformed bytes come back as U+FFFD and a typed "▁" as a space, as in SentencePiece.
    if (!is_valid_utf8(s) || s.find("\xE2\x96\x81") != std::string::npos) continue;
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(s)), s) << "text: '" << s << "'";
  }
  // Malformed bytes: each becomes U+FFFD.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xFF" "b")), "a\xEF\xBF\xBD" "b");
}

TEST_F(TokenizerVsSpm, RemoveExtraWhitespacesModelMatches) {
  SpmTrainConfig config;
  config.corpus = corpus_;
  config.output = dir_->path() / "bpe_rew" / "tokenizer.model";
  config.vocab_size = 400;
  config.remove_extra_whitespaces = true;
  const fs::path model = train_sentencepiece(config);
  EXPECT_TRUE(SentencePieceTokenizer::load(model).model().normalizer.remove_extra_whitespaces);
  expect_same_ids(model, probe_strings());
  expect_same_ids(model, random_strings(300, 3));
  expect_same_decoding(model, probe_strings());
}

TEST_F(TokenizerVsSpm, TrainingIsDeterministic) {
  SpmTrainConfig config;
  config.corpus = corpus_;
  config.vocab_size = 420;
  config.output = dir_->path() / "again" / "elsewhere" / "tokenizer.model";
  train_sentencepiece(config);
  EXPECT_EQ(read_file(config.output), read_file(bpe_model_)) << "same corpus and options must give the same bytes";
}

TEST_F(TokenizerVsSpm, TrainingFailureIsReported) {
  SpmTrainConfig config;
  config.corpus = dir_->path() / "tiny.txt";
  test::write_text(config.corpus, "ab\n");
  config.output = dir_->path() / "tiny" / "tokenizer.model";
  config.vocab_size = 100000;  // far more than two characters can fill
  EXPECT_THROW(train_sentencepiece(config), DataError);
  EXPECT_FALSE(fs::exists(config.output));
  config.vocab_size = 10;
  EXPECT_THROW(train_sentencepiece(config), ConfigError);
  config.vocab_size = 400;
  config.corpus = dir_->path() / "missing.txt";
  EXPECT_THROW(train_sentencepiece(config), IoError);
}

TEST_F(TokenizerVsSpm, WrittenModelLoadsInSpmEncodeAndMatches) {
  // Rebuild the trained model from its normal pieces with our writer: same ids as spm_train's
  // model, both in our encoder and in spm_encode.
  const SentencePieceModel trained = read_sentencepiece_model(bpe_model_);
  BpeModelSpec spec;
  for (const SentencePieceEntry& entry : trained.pieces) {
    if (entry.type == PieceType::kNormal) spec.pieces.emplace_back(entry.piece, entry.score);
  }
  const fs::path written = dir_->path() / "written" / "tokenizer.model";
  write_sentencepiece_model(written, build_bpe_model(spec));
  const SentencePieceTokenizer ours = SentencePieceTokenizer::load(written);
  const SentencePieceTokenizer theirs = SentencePieceTokenizer::load(bpe_model_);
  ASSERT_EQ(ours.vocab_size(), theirs.vocab_size());
  for (int id = 0; id < ours.vocab_size(); ++id) ASSERT_EQ(ours.piece(id), theirs.piece(id)) << id;
  std::vector<std::string> strings = probe_strings();
  const auto more = random_strings(200, 21);
  strings.insert(strings.end(), more.begin(), more.end());
  expect_same_ids(written, strings);
  for (const std::string& s : strings) EXPECT_EQ(ours.encode(s), theirs.encode(s)) << s;
  expect_same_decoding(written, probe_strings());
}

TEST_F(TokenizerVsSpm, HandWrittenVocabularyLoadsInSpmEncode) {
  // A vocabulary that was never trained: characters and merges, several with equal scores so
  // that the leftmost-first tie rule is checked against SentencePiece too.
  BpeModelSpec spec;
  float score = 0.0f;
  for (const char* piece : {"\xE2\x96\x81" "the", "th", "he", "\xE2\x96\x81" "t", "in", "\xE2\x96\x81" "a", "er",
                            "\xE2\x96\x81", "t", "h", "e", "i", "n", "a", "r", "s", "o", "c", "l", "u", "W", "?"}) {
    spec.pieces.emplace_back(piece, score);
    score -= 1.0f;
  }
  for (const char* piece : {"aa", "ee", "ss", "ah", "ha", "\xE2\x96\x81\xE2\x96\x81"}) spec.pieces.emplace_back(piece, -0.5f);
  spec.user_defined_symbols = {"<image>", "<im_end>"};
  std::vector<std::string> strings = probe_strings();
  strings.push_back("<im_end><image> the other ther theirs");
  const auto more = random_strings(200, 8);
  strings.insert(strings.end(), more.begin(), more.end());
  // Every combination of the two normaliser flags the writer exposes.
  for (const bool dummy_prefix : {true, false}) {
    for (const bool remove_extra : {false, true}) {
      spec.add_dummy_prefix = dummy_prefix;
      spec.remove_extra_whitespaces = remove_extra;
      const fs::path written = dir_->path() / ("hand_" + std::to_string(dummy_prefix) + std::to_string(remove_extra)) /
                               "tokenizer.model";
      write_sentencepiece_model(written, build_bpe_model(spec));
      SCOPED_TRACE("add_dummy_prefix=" + std::to_string(dummy_prefix) +
                   " remove_extra_whitespaces=" + std::to_string(remove_extra));
      expect_same_ids(written, strings);
      expect_same_decoding(written, strings);
    }
  }
}

TEST_F(TokenizerVsSpm, UnigramModelMatches) {
  SpmTrainConfig config;
  config.corpus = corpus_;
  config.output = dir_->path() / "unigram" / "tokenizer.model";
  config.vocab_size = 400;
  config.model_type = SentencePieceAlgorithm::kUnigram;
  const fs::path model = train_sentencepiece(config);
  ASSERT_EQ(SentencePieceTokenizer::load(model).model().trainer.model_type, SentencePieceAlgorithm::kUnigram);
  expect_same_ids(model, probe_strings());
  expect_same_ids(model, random_strings(400, 12));
  expect_same_decoding(model, probe_strings());
}

TEST_F(TokenizerVsSpm, ModelsWithoutByteFallbackUseUnk) {
  const std::vector<std::string> corpus = test::synthetic_corpus(300, 3);
  for (const char* type : {"bpe", "unigram"}) {
    const fs::path model = test::spm_train_raw(
        corpus, {std::string("--model_type=") + type, "--vocab_size=150", "--normalization_rule_name=identity",
                 "--character_coverage=0.98"},
        dir_->path(), std::string("nofallback_") + type);
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(model);
    EXPECT_FALSE(tokenizer.model().trainer.byte_fallback);
    expect_same_ids(model, probe_strings());
    expect_same_ids(model, random_strings(200, 4));
    expect_same_decoding(model, probe_strings());
  }
}

TEST_F(TokenizerVsSpm, NfkcNormalisedModelsMatch) {
  // spm_train's default normaliser: NFKC from a precompiled character map.
  std::vector<std::string> corpus = test::synthetic_corpus(300, 5);
  corpus.push_back("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3 full width \xE2\x91\xA0 \xEF\xAC\x81 ligature");
  for (const char* type : {"bpe", "unigram"}) {
    const fs::path model = test::spm_train_raw(
        corpus, {std::string("--model_type=") + type, "--vocab_size=400", "--byte_fallback=true",
                 "--user_defined_symbols=<image>"},
        dir_->path(), std::string("nfkc_") + type);
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(model);
    EXPECT_EQ(tokenizer.model().normalizer.name, "nmt_nfkc");
    EXPECT_FALSE(tokenizer.model().normalizer.precompiled_charsmap.empty());
    std::vector<std::string> strings = probe_strings();
    for (const char* s : {"\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3", "\xE2\x91\xA0\xE2\x91\xA1", "\xEF\xAC\x81" "sh",
                          "e\xCC\x81t\xC3\xA9", "\xE3\x80\x80" "ideographic\xE3\x80\x80space", "x\xC2\xA0y",
                          "\xE3\x8D\xBF", "\xEF\xBD\xB6\xEF\xBE\x9E"}) {
      strings.push_back(s);
    }
    expect_same_ids(model, strings);
    expect_same_ids(model, random_strings(200, 6));
  }
}

}  // namespace
}  // namespace privprobe
