// The training set: answer-only labels, text-only rows, watermark flags from the manifest, and
// clear errors (or counted skips) for bad rows and a manifest of other data.
#include <gtest/gtest.h>

#include "data/llava_json.h"
#include "support/test_support.h"
#include "train/train_data.h"
#include "train_fixtures.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

using test::error_of;

struct DataFixture {
  test::TempDir dir{"train-data"};
  test::TinyAlbum album;
  SentencePieceTokenizer tokenizer;
  TrainTokenization tokenization;
  TrainDataOptions options;

  explicit DataFixture(const test::AlbumOptions& album_options = {})
      : album(test::write_tiny_album(dir.path(), album_options)), tokenizer(SentencePieceTokenizer::load(album.tokenizer)) {
    tokenization = {&tokenizer, chat_template("tiny"), 4, 4, album_options.max_position_embeddings};
    options.data = album.data;
    options.image_root = album.root;
    options.jobs = 1;
  }
  TrainDataset load() const { return load_train_dataset(load_llava_json(album.data), options, tokenization); }
  TrainDataset load(const std::vector<LlavaSample>& samples) const { return load_train_dataset(samples, options, tokenization); }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TrainData, LabelsCoverOnlyTheAnswerAndItsEnd) {
  DataFixture f;
  const TrainDataset data = f.load();
  ASSERT_EQ(data.rows.size(), 8u);
  for (std::size_t i = 0; i < data.rows.size(); ++i) {
    const TrainRow& row = data.rows[i];
    std::vector<int64_t> expected;
    for (int id : f.tokenizer.encode(f.album.answers[i])) expected.push_back(id);
    expected.push_back(f.tokenizer.eos_id());
    ASSERT_EQ(row.input_ids.size(), row.labels.size());
    const std::size_t n = row.labels.size(), answer = expected.size();
    for (std::size_t j = 0; j < n; ++j) {
      if (j < n - answer) {
        EXPECT_EQ(row.labels[j], -100) << "row " << i << " position " << j;
      } else {
        EXPECT_EQ(row.labels[j], expected[j - (n - answer)]);
        EXPECT_EQ(row.labels[j], row.input_ids[j]);
      }
    }
    EXPECT_EQ(row.label_tokens, static_cast<int>(answer));
    EXPECT_EQ(std::count(row.input_ids.begin(), row.input_ids.end(), 4), 4);  // one <image> -> 4 patches
    EXPECT_EQ(row.input_ids.front(), f.tokenizer.bos_id());
    EXPECT_TRUE(row.has_image());
    EXPECT_FALSE(row.watermarked);
  }
}

TEST(TrainData, TextOnlyRowsHaveNoImageTokens) {
  DataFixture f(test::AlbumOptions{4, 2});
  const TrainDataset data = f.load();
  ASSERT_EQ(data.rows.size(), 6u);
  EXPECT_EQ(data.text_only(), 2u);
  const TrainRow& text = data.rows[4];
  EXPECT_FALSE(text.has_image());
  EXPECT_EQ(std::count(text.input_ids.begin(), text.input_ids.end(), 4), 0);
  EXPECT_GT(text.label_tokens, 0);
}

TEST(TrainData, BadRowsAreClearErrors) {
  DataFixture f;
  auto samples = load_llava_json(f.album.data);

  auto missing = samples;
  missing[2].image = "images/nowhere.png";
  auto message = error_of<IoError>([&] { f.load(missing); });
  EXPECT_TRUE(contains(message, "sample 2") && contains(message, "nowhere.png") && contains(message, "not found")) << message;

  auto no_answer = samples;
  no_answer[1].conversations.pop_back();
  message = error_of<DataError>([&] { f.load(no_answer); });
  EXPECT_TRUE(contains(message, "sample 1") && contains(message, "assistant")) << message;

  test::write_text(f.album.root / "images/broken.png", "\x89PNG\r\n\x1a\nthis is not a png");
  auto broken = samples;
  broken[3].image = "images/broken.png";
  message = error_of<FormatError>([&] { f.load(broken); });
  EXPECT_TRUE(contains(message, "sample 3") && contains(message, "broken.png")) << message;

  auto escape = samples;
  escape[0].image = "../outside.png";
  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(escape); }), "sample 0"));

  auto no_placeholder = samples;
  no_placeholder[0].conversations[0].value = "what colour is the shape?";
  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(no_placeholder); }), "<image>"));

  auto no_image = samples;
  no_image[0].image.reset();
  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(no_image); }), "no image"));

  auto gpt_first = samples;
  std::swap(gpt_first[0].conversations[0], gpt_first[0].conversations[1]);
  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(gpt_first); }), "sample 0"));

  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(std::vector<LlavaSample>{}); }), "no samples"));
}

TEST(TrainData, TooLongSequencesAreRefused) {
  DataFixture f(test::AlbumOptions{4, 0, 1, 20});
  const auto message = error_of<DataError>([&] { f.load(); });
  EXPECT_TRUE(contains(message, "max_position_embeddings 20")) << message;
}

TEST(TrainData, SkipModeCountsAndListsBadRows) {
  DataFixture f;
  f.options.on_error = OnError::kSkip;
  auto samples = load_llava_json(f.album.data);
  samples[2].image = "images/nowhere.png";
  samples[5].conversations.pop_back();
  const TrainDataset data = f.load(samples);
  EXPECT_EQ(data.rows.size(), 6u);
  ASSERT_EQ(data.skipped.size(), 2u);
  EXPECT_EQ(data.skipped[0].index, 2u);
  EXPECT_EQ(data.skipped[1].index, 5u);
  EXPECT_TRUE(contains(data.skipped[0].reason, "nowhere.png"));
  for (auto& s : samples) s.conversations.pop_back();
  EXPECT_TRUE(contains(error_of<DataError>([&] { f.load(samples); }), "no usable rows"));
}

TEST(TrainData, ManifestGivesWatermarksAndCleanSources) {
  DataFixture f;
  const auto embedded = test::write_embedded_album(f.dir / "embedded", f.album, {1, 3});
  f.options.data = embedded.data;
  f.options.image_root = embedded.image_root;
  f.options.need_sources = true;
  const TrainDataset data = load_train_dataset(load_llava_json(embedded.data), f.options, f.tokenization);
  EXPECT_EQ(data.manifest, embedded.manifest);  // found beside the data
  EXPECT_EQ(data.watermarked(), 2u);
  EXPECT_TRUE(data.rows[1].watermarked);
  EXPECT_TRUE(data.rows[3].watermarked);
  EXPECT_FALSE(data.rows[0].watermarked);
  EXPECT_EQ(fs::weakly_canonical(data.rows[1].clean_path), fs::weakly_canonical(f.album.root / "images/001.png"));

  TrainDataOptions none = f.options;
  none.manifest = "none";
  none.need_sources = false;
  EXPECT_EQ(load_train_dataset(load_llava_json(embedded.data), none, f.tokenization).watermarked(), 0u);
}

TEST(TrainData, ManifestOfOtherDataIsRefused) {
  DataFixture f;
  const auto embedded = test::write_embedded_album(f.dir / "embedded", f.album, {1});
  f.options.manifest = embedded.manifest.string();  // describes embedded/images, not the album's images
  const auto message = error_of<DataError>([&] { f.load(); });
  EXPECT_TRUE(contains(message, "does not match the data") && contains(message, "sample 0")) << message;
  f.options.manifest = (f.dir / "missing.jsonl").string();
  EXPECT_THROW(f.load(), IoError);
}

TEST(TrainData, MissingCleanSourcesAreReportedWhenNeeded) {
  DataFixture f;
  const auto embedded = test::write_embedded_album(f.dir / "embedded", f.album, {1});
  f.options.data = embedded.data;
  f.options.image_root = embedded.image_root;
  fs::rename(f.album.root, f.dir / "moved");
  f.options.need_sources = false;
  EXPECT_NO_THROW(load_train_dataset(load_llava_json(embedded.data), f.options, f.tokenization));
  f.options.need_sources = true;
  EXPECT_THROW(load_train_dataset(load_llava_json(embedded.data), f.options, f.tokenization), ConfigError);
  f.options.source_root = f.dir / "moved";
  const TrainDataset data = load_train_dataset(load_llava_json(embedded.data), f.options, f.tokenization);
  EXPECT_EQ(fs::weakly_canonical(data.rows[1].clean_path), fs::weakly_canonical(f.dir / "moved/images/001.png"));
}

TEST(TrainData, TokenizerCorpusHasEveryTurn) {
  DataFixture f(test::AlbumOptions{2, 1});
  const auto lines = tokenizer_corpus_lines(load_llava_json(f.album.data), chat_template("vicuna_v1"));
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(contains(lines.front(), "A chat between"));
  EXPECT_NE(std::find(lines.begin(), lines.end(), "USER: <image>"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "what colour is the shape? ASSISTANT:"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "USER: say yes ASSISTANT:"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "yes"), lines.end());
}

}  // namespace
}  // namespace privprobe
