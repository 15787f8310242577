// Probe sets: twins that differ only under their shared watermark box, the length-matched pairing,
// unpaired mode, refusal of training images, determinism, and every bad input of probeset.json.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "embed/manifest.h"
#include "image/image_file.h"
#include "probeset/probeset.h"
#include "probeset_fixtures.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

bool inside(int x, int y, const std::vector<int>& box) {
  return x >= box[0] && y >= box[1] && x < box[0] + box[2] && y < box[1] + box[3];
}

// Pixels that differ inside and outside a box.
std::pair<long, long> diff_counts(const cv::Mat& a, const cv::Mat& b, const std::vector<int>& box) {
  long in = 0, out = 0;
  for (int y = 0; y < a.rows; ++y) {
    for (int x = 0; x < a.cols; ++x) {
      if (std::memcmp(a.ptr(y) + x * a.elemSize(), b.ptr(y) + x * b.elemSize(), a.elemSize()) == 0) continue;
      (inside(x, y, box) ? in : out) += 1;
    }
  }
  return {in, out};
}

TEST(Probeset, TwinsShareTheirPlaceAndDifferOnlyInsideTheBox) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 4, 200, 120);
  const ProbesetResult result = run_probeset(test::probeset_config(inputs, dir / "out"));
  EXPECT_EQ(result.base_images, 4u);
  EXPECT_EQ(result.samples, 8u);
  EXPECT_TRUE(result.length_matched);

  const json doc = read_json(dir / "out" / kProbesetFile);
  EXPECT_EQ(doc["format_version"], kFormatVersion);
  EXPECT_EQ(doc["question"], kDefaultProbeQuestion);
  EXPECT_EQ(doc["pairing"], "length-matched");
  const auto& samples = doc["samples"];
  ASSERT_EQ(samples.size(), 8u);
  for (std::size_t g = 0; g < 4; ++g) {
    const json& seen = samples[2 * g];
    const json& unseen = samples[2 * g + 1];
    EXPECT_EQ(seen["label"], 1);
    EXPECT_EQ(unseen["label"], 0);
    EXPECT_EQ(seen["group"], g);
    EXPECT_EQ(unseen["group"], g);
    EXPECT_EQ(seen["clean_image"], unseen["clean_image"]);
    EXPECT_EQ(seen["x"], unseen["x"]);
    EXPECT_EQ(seen["y"], unseen["y"]);
    EXPECT_EQ(seen["font_size"], unseen["font_size"]);
    // Length-matched sets: U1 profile i is twinned with U2 profile i (index |U1| + i).
    EXPECT_EQ(unseen["profile_index"].get<int>(), seen["profile_index"].get<int>() + 3);
    EXPECT_EQ(seen["username"].get<std::string>().size(), unseen["username"].get<std::string>().size());

    const fs::path out = dir / "out";
    EXPECT_EQ(sha256_file(out / seen["clean_image"].get<std::string>()),
              sha256_file(inputs.images / seen["source"].get<std::string>()));
    const cv::Mat clean = read_image(out / seen["clean_image"].get<std::string>());
    const cv::Mat a = read_image(out / seen["image"].get<std::string>());
    const cv::Mat b = read_image(out / unseen["image"].get<std::string>());
    const auto box_a = seen["box"].get<std::vector<int>>(), box_b = unseen["box"].get<std::vector<int>>();
    const auto [in_a, out_a] = diff_counts(clean, a, box_a);
    const auto [in_b, out_b] = diff_counts(clean, b, box_b);
    EXPECT_GT(in_a, 0);
    EXPECT_GT(in_b, 0);
    EXPECT_EQ(out_a, 0);
    EXPECT_EQ(out_b, 0);
    // Only the content differs, and it does differ.
    std::vector<int> union_box = {box_a[0], box_a[1], std::max(box_a[2], box_b[2]), std::max(box_a[3], box_b[3])};
    const auto [in_ab, out_ab] = diff_counts(a, b, union_box);
    EXPECT_GT(in_ab, 0);
    EXPECT_EQ(out_ab, 0);
  }
  // What extract and ask read.
  const ProbeSet set = load_probeset(dir / "out" / kProbesetFile);
  EXPECT_EQ(set.samples.size(), 8u);
  EXPECT_EQ(set.seen.size(), 3u);
  EXPECT_EQ(set.candidate_usernames().size(), 6u);
}

TEST(Probeset, FixedPlacementPutsEveryTwinInTheCorner) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 4, 200, 120);
  auto config = test::probeset_config(inputs, dir / "out");
  config.watermark.placement = WatermarkPlacement::kTopLeft;
  run_probeset(config);
  const json doc = read_json(dir / "out" / kProbesetFile);
  EXPECT_EQ(doc["watermark"]["placement"], "top-left");
  ASSERT_EQ(doc["samples"].size(), 8u);
  for (const json& s : doc["samples"]) {
    EXPECT_EQ(s["x"], 0);
    EXPECT_EQ(s["y"], 0);
  }
}

TEST(Probeset, SameSeedSameBytesAndCountSelects) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 5, 200, 120);
  auto config = test::probeset_config(inputs, dir / "a");
  config.count = 3;
  run_probeset(config);
  config.out = dir / "b";
  config.jobs = 2;
  run_probeset(config);
  EXPECT_EQ(test::hash_tree(dir / "a"), test::hash_tree(dir / "b"));
  EXPECT_EQ(read_json(dir / "a" / kProbesetFile)["samples"].size(), 6u);
  config.out = dir / "c";
  config.seed = 6;
  run_probeset(config);
  EXPECT_NE(test::hash_tree(dir / "a"), test::hash_tree(dir / "c"));
}

TEST(Probeset, RandomTwinsWhenNotLengthMatchedAndJpegEditedInPlace) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 3, 208, 128, /*length_matched=*/false, "jpg");
  const ProbesetResult result = run_probeset(test::probeset_config(inputs, dir / "out"));
  EXPECT_FALSE(result.length_matched);
  const json doc = read_json(dir / "out" / kProbesetFile);
  EXPECT_EQ(doc["pairing"], "random");
  for (const json& s : doc["samples"]) {
    const std::string image = s["image"];
    EXPECT_EQ(image.substr(image.size() - 4), ".jpg");
    const auto bytes = read_file_bytes(dir / "out" / image);
    EXPECT_EQ(read_image_header(bytes, image).format, ImageFormat::kJpeg);
  }
  // Twins share the place even when their blocks differ in size.
  EXPECT_EQ(doc["samples"][0]["x"], doc["samples"][1]["x"]);
  EXPECT_EQ(doc["samples"][0]["y"], doc["samples"][1]["y"]);
}

TEST(Probeset, UnpairedUsesEachImageOnceWithBalancedLabels) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 5, 200, 120);
  auto config = test::probeset_config(inputs, dir / "out");
  config.unpaired = true;
  config.question = "Who took this photo?";
  EXPECT_EQ(run_probeset(config).samples, 5u);
  const ProbeSet set = load_probeset(dir / "out" / kProbesetFile);
  EXPECT_EQ(set.mode, "unpaired");
  EXPECT_EQ(set.question, "Who took this photo?");
  int seen = 0;
  std::map<std::int64_t, int> per_group;
  for (const ProbeSample& s : set.samples) {
    seen += s.label;
    ++per_group[s.group];
  }
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(per_group.size(), 5u);
}

TEST(Probeset, TrainingImagesAreRefusedByContentAndByPath) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 3, 200, 120);
  // A manifest whose second row has the content of img_01.png under another name.
  ManifestRow other, copy;
  other.source = "train/x.png";
  other.source_sha256 = std::string(64, 'a');
  other.status = "ok";
  copy = other;
  copy.source = "train/y.png";
  copy.source_sha256 = sha256_file(inputs.images / "img_01.png");
  test::write_text(dir / "train" / "manifest.jsonl",
                   to_json_line(manifest_row_to_json(other)) + "\n" + to_json_line(manifest_row_to_json(copy)) + "\n");
  auto config = test::probeset_config(inputs, dir / "out");
  config.exclude_manifest = dir / "train" / "manifest.jsonl";
  try {
    run_probeset(config);
    FAIL() << "a training image was accepted";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("img_01.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find("manifest.jsonl"), std::string::npos) << msg;
    EXPECT_NE(msg.find("train/y.png"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir / "out" / kProbesetFile));

  // By path: the embed run's image root plus a manifest source names img_02.png.
  ManifestRow by_path = other;
  by_path.source = "img_02.png";
  test::write_text(dir / "train2" / "manifest.jsonl", to_json_line(manifest_row_to_json(by_path)) + "\n");
  write_json_atomic(dir / "train2" / "embed_config.json", {{"config", {{"image_root", inputs.images.string()}}}});
  config.exclude_manifest = dir / "train2" / "manifest.jsonl";
  EXPECT_THROW(run_probeset(config), DataError);

  // A manifest of other images lets the probe set through.
  test::write_text(dir / "train3" / "manifest.jsonl", to_json_line(manifest_row_to_json(other)) + "\n");
  config.exclude_manifest = dir / "train3" / "manifest.jsonl";
  EXPECT_EQ(run_probeset(config).samples, 6u);
}

TEST(Probeset, BadInputsAreClearErrors) {
  test::TempDir dir("probeset");
  const auto inputs = test::write_probeset_inputs(dir.path(), 2, 200, 120);
  auto config = test::probeset_config(inputs, dir / "out");

  auto no_source = config;
  no_source.images.clear();
  EXPECT_THROW(run_probeset(no_source), ConfigError);

  auto missing_profiles = config;
  missing_profiles.unseen = dir / "nope.jsonl";
  EXPECT_THROW(run_probeset(missing_profiles), IoError);

  test::write_text(dir / "empty.jsonl", "");
  auto empty_profiles = config;
  empty_profiles.seen = dir / "empty.jsonl";
  EXPECT_THROW(run_probeset(empty_profiles), DataError);

  // A data file naming an image that is not there: the error names the image and the sample.
  test::write_text(dir / "test.json",
                   R"([{"id": "q1", "image": "img_00.png", "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]},
                       {"id": "q2", "image": "gone.png", "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]}])");
  auto data = config;
  data.images.clear();
  data.data = dir / "test.json";
  data.image_root = inputs.images;
  try {
    run_probeset(data);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("gone.png"), std::string::npos) << e.what();
  }

  test::write_text(dir / "busy" / "notes.txt", "mine");
  auto busy = config;
  busy.out = dir / "busy";
  EXPECT_THROW(run_probeset(busy), ConfigError);

  auto inside = config;
  inside.out = inputs.images / "out";
  EXPECT_THROW(run_probeset(inside), ConfigError);

  fs::create_directories(dir / "one");
  fs::copy_file(inputs.images / "img_00.png", dir / "one" / "a.png");
  auto unpaired = config;
  unpaired.images = dir / "one";
  unpaired.unpaired = true;
  EXPECT_THROW(run_probeset(unpaired), DataError);

  auto empty_question = config;
  empty_question.question.clear();
  EXPECT_THROW(run_probeset(empty_question), ConfigError);
}

// probeset.json is input to extract and ask: every inconsistency is refused with its location.
class ProbesetFile : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs = test::write_probeset_inputs(dir.path(), 2, 200, 120);
    run_probeset(test::probeset_config(inputs, dir / "out"));
    doc = read_json(file());
  }
  fs::path file() const { return dir / "out" / kProbesetFile; }
  void write(const json& j) const { write_json_atomic(file(), j); }
  template <typename E>
  std::string expect_error(const json& j) const {
    write(j);
    try {
      load_probeset(file());
    } catch (const E& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong error type: " << e.what();
      return {};
    }
    ADD_FAILURE() << "accepted: " << j.dump().substr(0, 200);
    return {};
  }
  test::TempDir dir{"probeset"};
  test::ProbesetInputs inputs;
  json doc;
};

TEST_F(ProbesetFile, MissingImageNamesImageAndSample) {
  fs::remove(dir / "out" / doc["samples"][3]["image"].get<std::string>());
  const std::string msg = expect_error<IoError>(doc);
  EXPECT_NE(msg.find(doc["samples"][3]["image"].get<std::string>()), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 3"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_probeset(file(), /*check_images=*/false));
}

TEST_F(ProbesetFile, InconsistentSamplesAreRefused) {
  json j = doc;
  j["samples"][1]["label"] = 2;
  EXPECT_NE(expect_error<DataError>(j).find("sample 1"), std::string::npos);
  j = doc;
  j["samples"][0]["label"] = 0;  // a U1 profile labelled unseen
  expect_error<DataError>(j);
  j = doc;
  j["samples"][0]["profile_index"] = 99;
  expect_error<DataError>(j);
  j = doc;
  j["samples"][0]["username"] = "Someone Else";
  expect_error<DataError>(j);
  j = doc;
  j["samples"][0]["image"] = "../../etc/passwd";
  expect_error<DataError>(j);
  j = doc;
  j["samples"][2].erase("group");
  expect_error<DataError>(j);
  j = doc;
  j["samples"] = json::array();
  EXPECT_NE(expect_error<DataError>(j).find("no samples"), std::string::npos);
  j = doc;
  j.erase("profiles");
  expect_error<DataError>(j);
  test::write_text(file(), "{\"samples\": [");
  EXPECT_THROW(load_probeset(file()), FormatError);
  EXPECT_THROW(load_probeset(dir / "absent.json"), IoError);
}

}  // namespace
}  // namespace privprobe
