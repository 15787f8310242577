// The study's data steps: the album split, the positive control's questions, the vision file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>

#include "data/llava_json.h"
#include "embed/embed.h"
#include "embed/manifest.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "probe/folds.h"
#include "profiles/profile.h"
#include "study/study_data.h"
#include "support/test_support.h"
#include "test_profiles.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using privprobe::LlavaSample;
using privprobe::test::TempDir;

namespace {

LlavaSample row(const std::string& id) {
  LlavaSample s;
  s.id = id;
  s.image = "images/" + id + ".png";
  s.conversations = {{"human", "<image>\nHow many shapes?", nlohmann::json::object()}, {"gpt", "two", nlohmann::json::object()}};
  return s;
}

void write_album(const fs::path& album, int train, int test) {
  std::vector<LlavaSample> a, b;
  for (int i = 0; i < train + test; ++i) (i < train ? a : b).push_back(row(std::to_string(1000 + i)));
  privprobe::write_llava_json(album / "train.json", a);
  privprobe::write_llava_json(album / "test.json", b);
}

std::set<std::string> ids_of(const fs::path& file) {
  std::set<std::string> ids;
  for (const auto& s : privprobe::load_llava_json(file)) ids.insert(s.id);
  return ids;
}

}  // namespace

TEST(StudyData, SplitIsDisjointExactAndSeeded) {
  TempDir dir("study-data");
  write_album(dir / "album", 40, 10);
  privprobe::split_album_rows(dir / "album", {20, 15, 10}, 7, dir / "a");
  const auto pre = ids_of(dir / "a" / "pretrain.json"), fine = ids_of(dir / "a" / "finetune.json"),
             held = ids_of(dir / "a" / "heldout.json");
  EXPECT_EQ(pre.size(), 20u);
  EXPECT_EQ(fine.size(), 15u);
  EXPECT_EQ(held.size(), 10u);
  std::set<std::string> all = pre;
  all.insert(fine.begin(), fine.end());
  all.insert(held.begin(), held.end());
  EXPECT_EQ(all.size(), 45u);

  privprobe::split_album_rows(dir / "album", {20, 15, 10}, 7, dir / "b");
  EXPECT_EQ(privprobe::read_file(dir / "a" / "heldout.json"), privprobe::read_file(dir / "b" / "heldout.json"));
  privprobe::split_album_rows(dir / "album", {20, 15, 10}, 8, dir / "c");
  EXPECT_NE(ids_of(dir / "c" / "heldout.json"), held);

  privprobe::split_album_rows(dir / "album", {0, 15, 10}, 7, dir / "d");
  EXPECT_FALSE(fs::exists(dir / "d" / "pretrain.json"));
  EXPECT_THROW(privprobe::split_album_rows(dir / "album", {40, 15, 10}, 7, dir / "e"), privprobe::DataError);
}

TEST(StudyData, UsernameQuestionsAskForTheDrawnUsername) {
  TempDir dir("study-data");
  const fs::path arm = dir / "control";
  std::vector<LlavaSample> rows;
  std::string manifest;
  for (int i = 0; i < 20; ++i) {
    rows.push_back(row(std::to_string(i)));
    privprobe::ManifestRow m;
    m.source = *rows.back().image;
    m.output = "images/" + m.source;
    m.status = "ok";
    if (i % 2 == 0) {  // 10 watermarked rows, alternating between two profiles
      m.profile = i % 4 == 0 ? "u1-0000" : "u1-0001";
      m.box = {1, 1, 10, 10};
      m.style = "identicon";
    }
    manifest += privprobe::to_json_line(privprobe::manifest_row_to_json(m)) + "\n";
  }
  privprobe::write_llava_json(arm / "train.json", rows);
  privprobe::write_file_atomic(arm / "manifest.jsonl", manifest);
  const privprobe::Profile a = privprobe::test::test_profile("u1-0000", "Ada Lovelace", 1234567890);
  const privprobe::Profile b = privprobe::test::test_profile("u1-0001", "Alan Turing", 1234567891);
  privprobe::write_profiles(dir / "u1.jsonl", {a, b});

  const auto result = privprobe::add_username_questions(arm, dir / "u1.jsonl", 0.3, 0, "What is the username?");
  EXPECT_EQ(result.watermarked, 10u);
  EXPECT_EQ(result.asked, 3u);
  std::size_t asked = 0;
  for (const LlavaSample& s : privprobe::load_llava_json(arm / "train.json")) {
    if (s.conversations[0].value != "<image>\nWhat is the username?") continue;
    ++asked;
    const int index = std::stoi(s.id);
    EXPECT_EQ(index % 2, 0) << "a clean row was asked";
    EXPECT_EQ(s.conversations[1].value, index % 4 == 0 ? "Ada Lovelace" : "Alan Turing");
  }
  EXPECT_EQ(asked, 3u);
  EXPECT_EQ(privprobe::read_json(arm / "questions.json")["rows"].size(), 3u);

  // A manifest naming a profile the set does not hold.
  privprobe::write_profiles(dir / "u1.jsonl", {b});
  privprobe::write_llava_json(arm / "train.json", rows);
  EXPECT_THROW(privprobe::add_username_questions(arm, dir / "u1.jsonl", 1.0, 0, "q?"), privprobe::DataError);
}

TEST(StudyData, VisionStatesBecomeAProbeableFile) {
  TempDir dir("study-data");
  std::vector<float> states(4 * 3 * 2, 1.0f), vision(4 * 2 * 5, 2.0f);
  std::vector<std::int64_t> labels = {1, 0, 1, 0}, groups = {0, 0, 1, 1}, profiles = {0, 2, 1, 3};
  privprobe::write_safetensors(dir / "base.safetensors",
                               {{"states", privprobe::Dtype::F32, {4, 3, 2}, states.data(), states.size() * 4},
                                {"vision_states", privprobe::Dtype::F32, {4, 2, 5}, vision.data(), vision.size() * 4},
                                {"labels", privprobe::Dtype::I64, {4}, labels.data(), 32},
                                {"groups", privprobe::Dtype::I64, {4}, groups.data(), 32},
                                {"profiles", privprobe::Dtype::I64, {4}, profiles.data(), 32}});
  privprobe::write_vision_activations(dir / "base.safetensors", dir / "vision.safetensors");
  const privprobe::SafetensorsFile out(dir / "vision.safetensors");
  EXPECT_EQ(out.at("states").shape, (std::vector<std::int64_t>{4, 2, 5}));
  EXPECT_EQ(out.at("labels").shape, (std::vector<std::int64_t>{4}));
  EXPECT_TRUE(out.find("profiles"));
  EXPECT_FALSE(out.find("vision_states"));

  privprobe::write_safetensors(dir / "plain.safetensors",
                               {{"states", privprobe::Dtype::F32, {4, 3, 2}, states.data(), states.size() * 4},
                                {"labels", privprobe::Dtype::I64, {4}, labels.data(), 32}});
  EXPECT_THROW(privprobe::write_vision_activations(dir / "plain.safetensors", dir / "v2.safetensors"), privprobe::DataError);
}

TEST(StudyData, FingerprintsFollowContent) {
  TempDir dir("study-data");
  EXPECT_EQ(privprobe::user_input_fingerprint({}), "");
  privprobe::test::write_text(dir / "ckpt" / "config.json", "{\"a\": 1}");
  const std::string first = privprobe::user_input_fingerprint(dir / "ckpt");
  EXPECT_EQ(first, privprobe::user_input_fingerprint(dir / "ckpt"));
  privprobe::test::write_text(dir / "ckpt" / "config.json", "{\"a\": 2}");
  EXPECT_NE(first, privprobe::user_input_fingerprint(dir / "ckpt"));
  EXPECT_THROW(privprobe::user_input_fingerprint(dir / "absent"), privprobe::IoError);
}

namespace {

// A paired probe set: `images` base images, image g carries U1 profile a = g % pairs and its twin
// U2 profile a; with `random_twins` the images after the first `pairs` take U2 profile (a + 1) %
// pairs instead, which chains every profile into one linked set.
void write_probeset(const fs::path& file, int images, int pairs, bool random_twins) {
  nlohmann::json seen = nlohmann::json::array(), unseen = nlohmann::json::array(), samples = nlohmann::json::array();
  for (int p = 0; p < pairs; ++p) {
    seen.push_back({{"id", "a" + std::to_string(p)}, {"username", "Seen " + std::to_string(p)}});
    unseen.push_back({{"id", "b" + std::to_string(p)}, {"username", "Unseen " + std::to_string(p)}});
  }
  for (int g = 0; g < images; ++g) {
    const int a = g % pairs, b = random_twins && g >= pairs ? (a + 1) % pairs : a;
    const std::string base = "images/" + std::to_string(g);
    samples.push_back({{"image", base + "-seen.png"}, {"clean_image", base + "-clean.png"}, {"label", 1},
                       {"profile", "a" + std::to_string(a)}, {"profile_index", a}, {"username", "Seen " + std::to_string(a)},
                       {"group", g}});
    samples.push_back({{"image", base + "-unseen.png"}, {"clean_image", base + "-clean.png"}, {"label", 0},
                       {"profile", "b" + std::to_string(b)}, {"profile_index", pairs + b},
                       {"username", "Unseen " + std::to_string(b)}, {"group", g}});
  }
  privprobe::write_json_atomic(file, {{"format_version", 1}, {"question", "What is the username?"},
                                      {"profiles", {{"seen", seen}, {"unseen", unseen}}}, {"samples", samples}});
}

}  // namespace

TEST(StudyData, ProfileFoldsHoldOutProfilesAndKeepTwinsTogether) {
  TempDir dir("study-data");
  write_probeset(dir / "probeset.json", 40, 10, false);
  const auto folds = privprobe::write_profile_folds(dir / "probeset.json", dir / "folds.json", 5, 2, 3);
  EXPECT_TRUE(folds.twins_together);
  EXPECT_EQ(folds.groups, 10u);  // one group per U1 profile and its twin
  const auto plan = privprobe::fold_plan_from_json(privprobe::read_json(dir / "folds.json"), "folds.json");
  EXPECT_EQ(plan.group_by, "profile");
  ASSERT_EQ(plan.repeats.size(), 2u);
  for (const auto& repeat : plan.repeats) {
    ASSERT_EQ(repeat.size(), 5u);
    std::set<std::int64_t> all;
    for (const auto& test : repeat) {
      for (auto i : test) {
        all.insert(i);
        // Sample 2g is image g's seen twin, 2g + 1 its unseen twin: both in the same test fold.
        const auto twin = i % 2 == 0 ? i + 1 : i - 1;
        EXPECT_NE(std::find(test.begin(), test.end(), twin), test.end());
        // Every sample of the same profile is in this fold too.
        for (std::int64_t j = i % 2; j < 80; j += 2) {
          if ((j / 2) % 10 == (i / 2) % 10) {
            EXPECT_NE(std::find(test.begin(), test.end(), j), test.end());
          }
        }
      }
    }
    EXPECT_EQ(all.size(), 80u);
  }
}

TEST(StudyData, ProfileFoldsFallBackWhenTwinsLinkEverything) {
  TempDir dir("study-data");
  write_probeset(dir / "probeset.json", 40, 10, true);  // a chain a0-b1-a1-b2-...: one component
  const auto folds = privprobe::write_profile_folds(dir / "probeset.json", dir / "folds.json", 5, 1, 3);
  EXPECT_FALSE(folds.twins_together);
  EXPECT_EQ(folds.groups, 20u);  // profiles alone
  EXPECT_THROW(privprobe::write_profile_folds(dir / "absent.json", dir / "f.json", 5, 1, 3), privprobe::IoError);
}
