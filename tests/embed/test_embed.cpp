// The embed stage through run_embed: what changes in a watermarked image (only the box, or the
// JPEG's MCU hull), byte-identical copies, the realized rate, determinism across --jobs, the
// LLaVA JSON mode, and the layouts that must work (gray, 16-bit, alpha, CMYK, progressive).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "embed/embed.h"
#include "embed/embed_fixtures.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

struct EmbedFixture {
  test::TempDir dir{"embed"};
  fs::path in = dir / "in";
  fs::path profiles = dir / "profiles.jsonl";
  EmbedFixture() {
    fs::create_directories(in);
    test::write_profiles_jsonl(profiles, 5);
  }
  EmbedConfig config(const std::string& out_name, double rate) const {
    EmbedConfig c;
    c.images = in;
    c.profiles = profiles;
    c.out = dir / out_name;
    c.rate = rate;
    c.seed = 11;
    c.jobs = 1;
    return c;
  }
};

std::map<std::string, ManifestRow> rows_by_source(const fs::path& out) {
  std::map<std::string, ManifestRow> rows;
  for (auto& row : load_manifest(out / "manifest.jsonl")) rows[row.source] = row;
  return rows;
}

bool inside(int x, int y, const Box& b) { return x >= b.x && y >= b.y && x < b.x + b.width && y < b.y + b.height; }

// Pixels that differ between two decoded images of the same size and type.
struct DiffStats {
  long inside = 0, outside = 0;
};
DiffStats diff_against_box(const cv::Mat& a, const cv::Mat& b, const Box& box) {
  DiffStats stats;
  const std::size_t pixel_bytes = a.elemSize();
  for (int y = 0; y < a.rows; ++y) {
    for (int x = 0; x < a.cols; ++x) {
      if (std::memcmp(a.ptr(y) + x * pixel_bytes, b.ptr(y) + x * pixel_bytes, pixel_bytes) == 0) continue;
      (inside(x, y, box) ? stats.inside : stats.outside) += 1;
    }
  }
  return stats;
}

TEST(Embed, LosslessFormatsChangeOnlyInsideTheBox) {
  EmbedFixture f;
  const std::map<std::string, cv::Mat> sources = {
      {"rgb.png", test::noise_image(300, 200, 3)},
      {"gray.png", test::noise_image(300, 200, 1)},
      {"alpha.png", test::noise_image(300, 200, 4)},
      {"deep.png", test::noise_image(300, 200, 3, CV_16U)},
      {"deep_gray.png", test::noise_image(300, 200, 1, CV_16U)},
      {"deep_alpha.png", test::noise_image(300, 200, 4, CV_16U)},
      {"sub/pic.bmp", test::noise_image(257, 191, 3)},
      {"lossless.webp", test::noise_image(240, 180, 3)},
  };
  for (const auto& [name, image] : sources) test::write_image(f.in / name, image);
  for (auto style : {WatermarkStyle::kText, WatermarkStyle::kIdenticon, WatermarkStyle::kBoth}) {
    EmbedConfig c = f.config(std::string("out_") + watermark_style_name(style), 1.0);
    c.watermark.style = style;
    const EmbedResult result = run_embed(c);
    EXPECT_EQ(result.watermarked, sources.size());
    const auto rows = rows_by_source(c.out);
    for (const auto& [name, image] : sources) {
      SCOPED_TRACE(name + " " + watermark_style_name(style));
      const ManifestRow& row = rows.at(name);
      EXPECT_EQ(row.status, "ok");
      EXPECT_TRUE(row.lossless);
      EXPECT_EQ(row.style, watermark_style_name(style));
      EXPECT_FALSE(row.box.empty());
      const cv::Mat before = cv::imread((f.in / name).string(), cv::IMREAD_UNCHANGED);
      const cv::Mat after = cv::imread((c.out / row.output).string(), cv::IMREAD_UNCHANGED);
      ASSERT_EQ(before.type(), after.type());
      ASSERT_EQ(before.size(), after.size());
      const DiffStats d = diff_against_box(before, after, row.box);
      EXPECT_EQ(d.outside, 0);
      EXPECT_GT(d.inside, 0);
    }
  }
}

TEST(Embed, LossyWebpIsReencodedAndRecordedAsLossy) {
  EmbedFixture f;
  test::write_image(f.in / "photo.webp", test::noise_image(200, 150, 3), 80);
  const EmbedConfig c = f.config("out", 1.0);
  run_embed(c);
  const ManifestRow row = rows_by_source(c.out).at("photo.webp");
  EXPECT_EQ(row.status, "ok");
  EXPECT_FALSE(row.lossless);
  const cv::Mat after = cv::imread((c.out / row.output).string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(after.cols, 200);
  EXPECT_EQ(after.rows, 150);
}

struct JpegCase {
  std::string name;
  cv::Mat image;
  test::JpegOptions options;
};

TEST(Embed, JpegChangesStayInsideTheMcuHull) {
  EmbedFixture f;
  using test::JpegSampling;
  std::vector<JpegCase> cases = {
      {"s420.jpg", test::noise_image(203, 157, 3), {90, JpegSampling::k420, false, false}},
      {"s422.jpg", test::noise_image(203, 157, 3), {90, JpegSampling::k422, false, false}},
      {"s444.jpg", test::noise_image(203, 157, 3), {90, JpegSampling::k444, false, false}},
      {"gray.jpg", test::noise_image(203, 157, 1), {90, JpegSampling::k444, false, false}},
      {"progressive.jpg", test::noise_image(203, 157, 3), {85, JpegSampling::k420, true, false}},
      {"cmyk.jpg", test::noise_image(203, 157, 3), {90, JpegSampling::k444, false, true}},
      {"big.jpeg", test::noise_image(640, 480, 3), {75, JpegSampling::k420, false, false}},
  };
  for (const auto& c : cases) test::write_jpeg(f.in / c.name, c.image, c.options);
  for (auto style : {WatermarkStyle::kText, WatermarkStyle::kBoth}) {
    EmbedConfig config = f.config(std::string("out_") + watermark_style_name(style), 1.0);
    config.watermark.style = style;
    run_embed(config);
    const auto rows = rows_by_source(config.out);
    for (const auto& c : cases) {
      SCOPED_TRACE(c.name);
      const ManifestRow& row = rows.at(c.name);
      ASSERT_EQ(row.status, "ok") << row.error;
      EXPECT_TRUE(row.lossless);
      const auto before = test::decode_jpeg_strict(test::read_bytes(f.in / c.name));
      const auto after = test::decode_jpeg_strict(test::read_bytes(config.out / row.output));
      ASSERT_EQ(before.width, after.width);
      ASSERT_EQ(before.height, after.height);
      ASSERT_EQ(before.components, after.components);
      const Box hull = test::mcu_hull(row.box, before.mcu_width, before.mcu_height, before.width, before.height);
      long changed_inside_box = 0, changed_outside_hull = 0;
      for (int y = 0; y < before.height; ++y) {
        for (int x = 0; x < before.width; ++x) {
          const std::size_t at = (static_cast<std::size_t>(y) * before.width + x) * before.components;
          if (std::memcmp(&before.pixels[at], &after.pixels[at], before.components) == 0) continue;
          if (!inside(x, y, hull)) ++changed_outside_hull;
          if (inside(x, y, row.box)) ++changed_inside_box;
        }
      }
      EXPECT_EQ(changed_outside_hull, 0);
      EXPECT_GT(changed_inside_box, 0);
    }
  }
}

TEST(Embed, UnmarkedImagesAreByteIdenticalCopies) {
  EmbedFixture f;
  test::write_jpeg(f.in / "a.jpg", test::noise_image(64, 48, 3));
  test::write_image(f.in / "b/c.png", test::noise_image(64, 48, 4));
  test::write_image(f.in / "d.webp", test::noise_image(64, 48, 3), 70);
  const EmbedConfig c = f.config("out", 0.0);
  const EmbedResult result = run_embed(c);
  EXPECT_EQ(result.images, 3u);
  EXPECT_EQ(result.watermarked, 0u);
  for (const auto& [source, row] : rows_by_source(c.out)) {
    EXPECT_TRUE(row.profile.empty());
    EXPECT_TRUE(row.box.empty());
    EXPECT_EQ(row.output, "images/" + source);
    EXPECT_EQ(test::read_bytes(c.out / row.output), test::read_bytes(f.in / source)) << source;
  }
}

TEST(Embed, RealizedRateIsWithinBinomialBounds) {
  EmbedFixture f;
  // Tiny images: the text block cannot fit, so this also exercises the clip path.
  const std::vector<std::uint8_t> png = [&] {
    test::write_image(f.dir / "tiny.png", test::noise_image(32, 32, 3));
    return test::read_bytes(f.dir / "tiny.png");
  }();
  constexpr int kN = 2000;
  for (int i = 0; i < kN; ++i) test::write_bytes(f.in / ("d" + std::to_string(i % 10)) / ("i" + std::to_string(i) + ".png"), png);
  for (double rate : {0.1, 0.5}) {
    EmbedConfig c = f.config("out_" + std::to_string(rate), rate);
    c.jobs = 2;
    const EmbedResult result = run_embed(c);
    const double sd = std::sqrt(kN * rate * (1 - rate));
    EXPECT_EQ(result.images, static_cast<std::size_t>(kN));
    EXPECT_NEAR(static_cast<double>(result.watermarked), kN * rate, 4.5 * sd);
    EXPECT_DOUBLE_EQ(result.realized_rate, static_cast<double>(result.watermarked) / kN);
    std::size_t marked = 0, clipped = 0;
    for (const auto& row : load_manifest(c.out / "manifest.jsonl")) {
      if (!row.profile.empty()) ++marked;
      if (row.clipped) ++clipped;
    }
    EXPECT_EQ(marked, result.watermarked);
    EXPECT_EQ(clipped, result.watermarked);
  }
}

TEST(Embed, SameBytesForAnyNumberOfJobs) {
  EmbedFixture f;
  for (int i = 0; i < 24; ++i) {
    const std::string stem = "set" + std::to_string(i % 3) + "/img" + std::to_string(i);
    if (i % 3 == 0) test::write_jpeg(f.in / (stem + ".jpg"), test::noise_image(96 + i, 80, 3));
    if (i % 3 == 1) test::write_image(f.in / (stem + ".png"), test::noise_image(120, 64 + i, 4));
    if (i % 3 == 2) test::write_image(f.in / (stem + ".webp"), test::noise_image(100, 100, 3));
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> trees;
  for (int jobs : {1, 2, 3}) {
    EmbedConfig c = f.config("out" + std::to_string(jobs), 0.5);
    c.jobs = jobs;
    run_embed(c);
    trees.push_back(test::hash_tree(c.out));
  }
  EXPECT_EQ(trees[0], trees[1]);
  EXPECT_EQ(trees[0], trees[2]);
  EXPECT_EQ(trees[0].size(), 24u + 2u);  // images + manifest + embed_config
}

TEST(Embed, InputsAreNeverModified) {
  EmbedFixture f;
  test::write_jpeg(f.in / "a.jpg", test::noise_image(64, 48, 3));
  test::write_image(f.in / "b.png", test::noise_image(64, 48, 3));
  test::write_text(f.dir / "data.json", test::llava_json_for({"a.jpg", "b.png"}));
  const auto before = test::hash_tree(f.dir.path());
  EmbedConfig c = f.config("out", 1.0);
  c.out = f.dir.path().string() + "-out";  // beside, not inside, the inputs
  run_embed(c);
  EmbedConfig d = f.config("unused", 1.0);
  d.images.clear();
  d.data = f.dir / "data.json";
  d.image_root = f.in;
  d.out = f.dir.path().string() + "-out2";
  run_embed(d);
  EXPECT_EQ(test::hash_tree(f.dir.path()), before);
  fs::remove_all(c.out);
  fs::remove_all(d.out);
}

TEST(Embed, DataModeRewritesTheJsonAndProcessesEachImageOnce) {
  EmbedFixture f;
  test::write_jpeg(f.in / "coco/a.jpg", test::noise_image(64, 48, 3));
  test::write_image(f.in / "gqa/b.png", test::noise_image(64, 48, 3));
  test::write_image(f.in / "unused.png", test::noise_image(64, 48, 3));
  auto samples = nlohmann::json::parse(test::llava_json_for({"coco/a.jpg", "gqa/b.png", "./coco/a.jpg"}));
  samples.push_back({{"id", 42}, {"conversations", {{{"from", "human"}, {"value", "Hello"}}}}});  // text-only
  test::write_text(f.dir / "train.json", samples.dump());
  EmbedConfig c = f.config("out", 0.5);
  c.images.clear();
  c.data = f.dir / "train.json";
  c.image_root = f.in;
  const EmbedResult result = run_embed(c);
  EXPECT_EQ(result.images, 2u);
  const auto rows = load_manifest(c.out / "manifest.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].source, "coco/a.jpg");  // sorted by source
  EXPECT_EQ(rows[1].source, "gqa/b.png");
  EXPECT_FALSE(fs::exists(c.out / "images/unused.png"));
  const auto rewritten = read_json(c.out / "train.json");
  EXPECT_EQ(rewritten, samples);  // same samples, same (relative) image paths
  for (const auto& s : rewritten) {
    if (s.contains("image")) {
      EXPECT_TRUE(fs::exists(c.out / "images" / s["image"].get<std::string>()));
    }
  }
  const auto record = read_json(c.out / "embed_config.json");
  EXPECT_EQ(record["format_version"], kFormatVersion);
  EXPECT_EQ(record["result"]["images"], 2);
  EXPECT_EQ(record["config"]["rate"], 0.5);
  EXPECT_TRUE(record["config_hash"].is_string());
}

TEST(Embed, ARerunOverAFinishedOutputChangesNothing) {
  EmbedFixture f;
  for (int i = 0; i < 6; ++i) test::write_jpeg(f.in / ("i" + std::to_string(i) + ".jpg"), test::noise_image(80, 60, 3, CV_8U, i));
  const EmbedConfig c = f.config("out", 0.5);
  const EmbedResult first = run_embed(c);
  const auto tree = test::hash_tree(c.out);
  const EmbedResult second = run_embed(c);
  EXPECT_EQ(second.resumed, 6u);
  EXPECT_EQ(second.watermarked, first.watermarked);
  EXPECT_EQ(test::hash_tree(c.out), tree);
}

TEST(Embed, AnOutputThatCannotBeWrittenStopsTheRunEvenUnderSkip) {
  EmbedFixture f;
  test::write_image(f.in / "a.png", test::noise_image(40, 30, 3));
  EmbedConfig c = f.config("out", 0.5);
  c.on_error = OnError::kSkip;
  run_embed(c);
  // A new input image whose output folder is blocked by a file: not the input's fault.
  test::write_image(f.in / "sub/b.png", test::noise_image(40, 30, 3));
  test::write_text(c.out / "images/sub", "a file where a folder must go");
  try {
    run_embed(c);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("images/sub"), std::string::npos) << e.what();
  }
}

TEST(Embed, RefusesAnOutputMadeWithOtherSettings) {
  EmbedFixture f;
  test::write_jpeg(f.in / "a.jpg", test::noise_image(80, 60, 3));
  run_embed(f.config("out", 0.5));
  EmbedConfig other = f.config("out", 0.7);
  try {
    run_embed(other);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--out"), std::string::npos) << e.what();
  }
  other = f.config("out", 0.5);
  other.watermark.style = WatermarkStyle::kIdenticon;
  EXPECT_THROW(run_embed(other), ConfigError);
  // A folder that is not an embed output is not touched either.
  test::write_text(f.dir / "foreign/notes.txt", "mine");
  EXPECT_THROW(run_embed(f.config("foreign", 0.5)), ConfigError);
  EXPECT_TRUE(fs::exists(f.dir / "foreign/notes.txt"));
}

TEST(Embed, ValidatesItsConfig) {
  EmbedFixture f;
  test::write_jpeg(f.in / "a.jpg", test::noise_image(80, 60, 3));
  EmbedConfig c = f.config("out", 1.5);
  EXPECT_THROW(run_embed(c), ConfigError);
  c = f.config("out", 0.5);
  c.out = f.in / "out";  // inside the input folder
  EXPECT_THROW(run_embed(c), ConfigError);
  c = f.config("out", 0.5);
  c.data = f.dir / "x.json";  // both modes at once
  EXPECT_THROW(run_embed(c), ConfigError);
  c = f.config("out", 0.5);
  c.profiles = f.dir / "missing.jsonl";
  EXPECT_THROW(run_embed(c), IoError);
  c = f.config("out", 0.5);
  c.max_pixels = 0;
  EXPECT_THROW(run_embed(c), ConfigError);
  EXPECT_THROW(parse_on_error("ignore"), ConfigError);
  EXPECT_FALSE(fs::exists(f.dir / "out"));
}

TEST(Embed, SummaryLineReportsRealizedAndRequestedRate) {
  EmbedResult r;
  r.images = 10;
  r.watermarked = 4;
  r.realized_rate = 0.4;
  EXPECT_EQ(embed_summary(r, 0.5), "watermarked 4 of 10 images: realized rate 0.4000 (requested 0.5)");
  r.skipped = 2;
  r.dropped_samples = 3;
  r.realized_rate = 0.5;
  EXPECT_EQ(embed_summary(r, 0.5),
            "watermarked 4 of 8 images: realized rate 0.5000 (requested 0.5); skipped 2 images (dropped 3 samples)");
}

}  // namespace
}  // namespace privprobe
