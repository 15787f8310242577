// The synthetic album: determinism, the LLaVA files, objects, images, and every answer recomputed
// from objects.json by an independent reading of the question.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "data/llava_json.h"
#include "data/synth.h"
#include "data/synth_scene.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// 400 images x 3 turns: about 200 questions of each type, enough to see a biased answer.
constexpr std::size_t kCount = 400;
constexpr int kTurns = 3;

SynthConfig album_config(const fs::path& out) {
  SynthConfig config;
  config.out = out;
  config.count = kCount;
  config.seed = 7;
  config.turns = kTurns;
  config.jobs = 2;
  return config;
}

// One album shared by the tests of this file (generating it is the slow part).
class SynthAlbum : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>("synth");
    result_ = run_synth(album_config(dir_->path()));
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static fs::path out() { return dir_->path(); }

  static std::unique_ptr<test::TempDir> dir_;
  static SynthResult result_;
};
std::unique_ptr<test::TempDir> SynthAlbum::dir_;
SynthResult SynthAlbum::result_;

// Words of a question, lower-case, punctuation dropped.
std::vector<std::string> words(const std::string& text) {
  std::string clean;
  for (char c : text) clean += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : ' ';
  std::istringstream in(clean);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string find_word(const std::vector<std::string>& text, const std::vector<std::string>& vocabulary) {
  std::string found;
  for (const auto& w : text) {
    for (const auto& v : vocabulary) {
      if (w == v) {
        EXPECT_TRUE(found.empty()) << "two vocabulary words in one question";
        found = w;
      }
    }
  }
  return found;
}

double mask_area(const json& object) {
  const double w = object["box"][0 + 2].get<double>(), h = object["box"][3].get<double>();
  if (object["shape"] == "circle") return 3.14159265358979 / 4 * w * h;
  if (object["shape"] == "triangle") return w * h / 2;
  return w * h;
}

// The answer a question must have, worked out from the objects alone.
std::string expected_answer(const std::string& type, const std::string& question, const json& objects, int size) {
  const auto text = words(question);
  const std::string color = find_word(text, synth_color_names());
  const std::string shape = find_word(text, synth_shape_names());
  std::vector<json> matching;
  for (const auto& o : objects) {
    if ((color.empty() || o["color"] == color) && (shape.empty() || o["shape"] == shape)) matching.push_back(o);
  }
  if (type == "count") return std::to_string(objects.size());
  if (type == "exists") return matching.empty() ? "no" : "yes";
  if (type == "largest") {
    std::vector<std::pair<double, std::string>> areas;
    for (const auto& o : objects) areas.emplace_back(mask_area(o), o["color"].get<std::string>());
    std::sort(areas.rbegin(), areas.rend());
    if (areas.size() > 1 && areas[0].first < 1.39 * areas[1].first) return "<ambiguous largest>";
    return areas[0].second;
  }
  if (matching.size() != 1) return "<ambiguous referent>";
  const json& o = matching[0];
  if (type == "color") return o["color"];
  if (type == "shape") return o["shape"];
  if (type == "position") {
    const int x = o["box"][0], w = o["box"][2];
    if (2 * (x + w) <= size) return "left";
    if (2 * x >= size) return "right";
    return "<straddles the middle>";
  }
  return "<unknown type " + type + ">";
}

std::vector<LlavaSample> all_samples(const fs::path& out) {
  auto samples = load_llava_json(out / "train.json");
  const auto test = load_llava_json(out / "test.json");
  samples.insert(samples.end(), test.begin(), test.end());
  return samples;
}

TEST_F(SynthAlbum, FilesAndCounts) {
  for (const char* name : {"train.json", "test.json", "objects.json", "synth_config.json"}) {
    EXPECT_TRUE(fs::exists(out() / name)) << name;
  }
  EXPECT_EQ(result_.train + result_.test, kCount);
  EXPECT_EQ(result_.test, 80u);  // round(400 * 0.2)
  const json config = read_json(out() / "synth_config.json");
  EXPECT_EQ(config["format_version"], kFormatVersion);
  EXPECT_EQ(config["seed"], 7);
  EXPECT_FALSE(config.contains("out"));
  EXPECT_FALSE(config.contains("jobs"));
  EXPECT_EQ(read_json(out() / "objects.json")["format_version"], kFormatVersion);
  EXPECT_EQ(load_llava_json(out() / "train.json").size(), result_.train);
  EXPECT_EQ(load_llava_json(out() / "test.json").size(), result_.test);
}

TEST(Synth, SameSeedSameBytesWhateverTheJobs) {
  test::TempDir one("synth-jobs1"), two("synth-jobs2"), reseeded("synth-seed");
  SynthConfig config = album_config(one.path());
  config.count = 60;
  config.jobs = 1;
  run_synth(config);
  config.out = two.path();
  config.jobs = 2;
  run_synth(config);
  const auto a = test::hash_tree(one.path());
  EXPECT_EQ(a.size(), 60u + 4u);
  EXPECT_EQ(a, test::hash_tree(two.path()));

  config.out = reseeded.path();
  config.seed = 8;
  run_synth(config);
  const auto b = test::hash_tree(reseeded.path());
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_EQ(same, 0u) << "a different seed must give a different album";
}

TEST_F(SynthAlbum, SplitIsDisjointAndComplete) {
  const auto train = load_llava_json(out() / "train.json");
  const auto test = load_llava_json(out() / "test.json");
  std::set<std::string> train_images, test_images, ids;
  for (const auto& s : train) train_images.insert(*s.image);
  for (const auto& s : test) test_images.insert(*s.image);
  for (const auto& s : all_samples(out())) ids.insert(s.id);
  EXPECT_EQ(ids.size(), kCount);
  EXPECT_EQ(train_images.size(), train.size());
  for (const auto& image : test_images) EXPECT_EQ(train_images.count(image), 0u) << image;
  EXPECT_EQ(train_images.size() + test_images.size(), kCount);
}

TEST_F(SynthAlbum, ConversationFormat) {
  for (const auto& s : all_samples(out())) {
    ASSERT_TRUE(s.image.has_value());
    EXPECT_EQ(*s.image, "images/" + s.id + ".png");
    EXPECT_EQ(s.id.size(), 6u);
    ASSERT_EQ(s.conversations.size(), 2u * kTurns) << s.id;
    std::set<std::string> types;
    for (std::size_t t = 0; t < s.conversations.size(); ++t) {
      const Turn& turn = s.conversations[t];
      EXPECT_EQ(turn.from, t % 2 == 0 ? "human" : "gpt");
      const bool has_token = turn.value.find(kImageToken) != std::string::npos;
      EXPECT_EQ(has_token, t == 0) << s.id << " turn " << t;
      if (t == 0) {
        EXPECT_EQ(turn.value.rfind(std::string(kImageToken) + "\n", 0), 0u);
      }
      if (t % 2 == 0) {
        types.insert(synth_question_type(turn.value));
      } else {
        EXPECT_EQ(words(turn.value).size(), 1u) << turn.value;
      }
    }
    EXPECT_EQ(types.size(), static_cast<std::size_t>(kTurns)) << "turns of one sample ask different types";
    EXPECT_EQ(types.count(""), 0u);
  }
}

TEST_F(SynthAlbum, EveryAnswerFollowsFromTheObjects) {
  const json objects = read_json(out() / "objects.json");
  std::size_t checked = 0;
  for (const auto& s : all_samples(out())) {
    const json& scene = objects["images"].at(*s.image);
    for (std::size_t t = 0; t + 1 < s.conversations.size(); t += 2) {
      const std::string& question = s.conversations[t].value;
      const std::string type = synth_question_type(question);
      EXPECT_EQ(s.conversations[t + 1].value, expected_answer(type, question, scene, 128)) << s.id << ": " << question;
      ++checked;
    }
  }
  EXPECT_EQ(checked, kCount * kTurns);
}

TEST_F(SynthAlbum, AnswersAndTypesAreBalanced) {
  std::map<std::string, std::map<std::string, int>> answers;  // type -> answer -> count
  std::map<std::string, std::set<std::string>> phrasings;     // type -> question with names blanked
  for (const auto& s : all_samples(out())) {
    for (std::size_t t = 0; t + 1 < s.conversations.size(); t += 2) {
      const std::string type = synth_question_type(s.conversations[t].value);
      ++answers[type][s.conversations[t + 1].value];
      std::string blanked;
      for (const auto& w : words(s.conversations[t].value)) {
        const bool name = find_word({w}, synth_color_names()) != "" || find_word({w}, synth_shape_names()) != "";
        blanked += (name ? std::string("X") : (w == "an" ? std::string("a") : w)) + " ";
      }
      phrasings[type].insert(blanked);
    }
  }
  const double questions = kCount * kTurns;
  ASSERT_EQ(answers.size(), synth_question_types().size());
  for (const auto& type : synth_question_types()) {
    int total = 0;
    for (const auto& [answer, n] : answers[type]) total += n;
    EXPECT_NEAR(total / questions, 1.0 / 6, 0.05) << type;
    EXPECT_GE(phrasings[type].size(), 4u) << type;
    // Answers of each type spread evenly over their possible values.
    std::vector<std::string> values;
    if (type == "color" || type == "largest") values = synth_color_names();
    if (type == "shape") values = synth_shape_names();
    if (type == "count") values = {"1", "2", "3"};
    if (type == "position") values = {"left", "right"};
    if (type == "exists") values = {"yes", "no"};
    EXPECT_EQ(answers[type].size(), values.size()) << type;
    for (const auto& v : values) {
      EXPECT_NEAR(static_cast<double>(answers[type][v]) / total, 1.0 / values.size(), 0.6 / values.size())
          << type << " answer " << v;
    }
  }
  // Tighter where balance matters most: yes/no and left/right.
  for (const auto& [type, a, b] : {std::tuple{"exists", "yes", "no"}, std::tuple{"position", "left", "right"}}) {
    const double share = static_cast<double>(answers[type][a]) / (answers[type][a] + answers[type][b]);
    EXPECT_NEAR(share, 0.5, 0.1) << type;
  }
}

TEST_F(SynthAlbum, ObjectsAreInsideApartAndDistinctlyColoured) {
  const json objects = read_json(out() / "objects.json");
  EXPECT_EQ(objects["image_size"], 128);
  ASSERT_EQ(objects["images"].size(), kCount);
  std::map<std::size_t, int> by_count;
  for (const auto& [image, list] : objects["images"].items()) {
    ++by_count[list.size()];
    std::set<std::string> colors;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& box = list[i]["box"];
      const int x = box[0], y = box[1], w = box[2], h = box[3];
      EXPECT_GE(x, 1);
      EXPECT_GE(y, 1);
      EXPECT_LE(x + w, 127) << image;
      EXPECT_LE(y + h, 127) << image;
      EXPECT_GE(w, synth_min_side(128));
      EXPECT_LE(w, synth_max_side(128));
      colors.insert(list[i]["color"].get<std::string>());
      for (std::size_t j = 0; j < i; ++j) {
        const auto& other = list[j]["box"];
        const bool apart = x + w <= other[0].get<int>() || other[0].get<int>() + other[2].get<int>() <= x ||
                           y + h <= other[1].get<int>() || other[1].get<int>() + other[3].get<int>() <= y;
        EXPECT_TRUE(apart) << image << " objects " << i << " and " << j << " overlap";
      }
    }
    EXPECT_EQ(colors.size(), list.size()) << image;
  }
  EXPECT_EQ(by_count.size(), 3u);  // 1, 2 and 3 objects
  for (const auto& [n, images] : by_count) EXPECT_NEAR(images / static_cast<double>(kCount), 1.0 / 3, 0.08) << n;
}

// Nearest palette colour to a BGR pixel, and its distance.
std::pair<int, double> nearest_palette(const cv::Vec3b& bgr) {
  std::pair<int, double> best{-1, 1e9};
  for (int c = 0; c < static_cast<int>(synth_color_names().size()); ++c) {
    const auto rgb = synth_color_rgb(c);
    const double d = std::hypot(std::hypot(bgr[2] - rgb[0], bgr[1] - rgb[1]), bgr[0] - rgb[2]);
    if (d < best.second) best = {c, d};
  }
  return best;
}

TEST_F(SynthAlbum, ImagesShowTheirObjects) {
  const json objects = read_json(out() / "objects.json");
  const auto& colors = synth_color_names();
  for (const auto& [image, list] : objects["images"].items()) {
    const cv::Mat picture = cv::imread((out() / image).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(picture.empty()) << image;
    ASSERT_EQ(picture.rows, 128);
    ASSERT_EQ(picture.cols, 128);
    ASSERT_EQ(picture.type(), CV_8UC3);
    cv::Mat covered(128, 128, CV_8U, cv::Scalar(0));
    for (const auto& o : list) {
      const int x = o["box"][0], y = o["box"][1], w = o["box"][2], h = o["box"][3];
      covered(cv::Rect(x, y, w, h)).setTo(1);
      // A point well inside the mask (a triangle is widest at the bottom).
      const int cy = o["shape"] == "triangle" ? y + 2 * h / 3 : y + h / 2;
      const auto [c, d] = nearest_palette(picture.at<cv::Vec3b>(cy, x + w / 2));
      EXPECT_EQ(colors[static_cast<std::size_t>(c)], o["color"]) << image;
      EXPECT_LT(d, 40) << image;
    }
    // The background never looks like an object colour.
    for (int y = 0; y < 128; y += 9) {
      for (int x = 0; x < 128; x += 9) {
        if (covered.at<std::uint8_t>(y, x)) continue;
        EXPECT_GT(nearest_palette(picture.at<cv::Vec3b>(y, x)).second, 40) << image << " at " << x << "," << y;
      }
    }
  }
}

TEST(Synth, QuestionTypes) {
  EXPECT_EQ(synth_question_types(), (std::vector<std::string>{"color", "shape", "count", "position", "exists", "largest"}));
  EXPECT_EQ(synth_question_type("<image>\nWhat colour is the circle?"), "color");
  EXPECT_EQ(synth_question_type("  what COLOUR is the circle?\n<image>"), "color");
  EXPECT_EQ(synth_question_type("Is there an orange square?"), "exists");
  EXPECT_EQ(synth_question_type("Is the red object on the left or the right?"), "position");
  EXPECT_EQ(synth_question_type("How many shapes are there?"), "count");
  EXPECT_EQ(synth_question_type("What colour is the largest shape?"), "largest");
  EXPECT_EQ(synth_question_type("What colour is the dog?"), "");
  EXPECT_EQ(synth_question_type(""), "");
  EXPECT_EQ(synth_question_type("<image>"), "");
}

TEST(Synth, JpegAlbumAndSmallSplits) {
  test::TempDir dir("synth-jpg");
  SynthConfig config;
  config.out = dir.path();
  config.count = 12;
  config.size = 96;
  config.format = "jpg";
  config.test_fraction = 0.0;
  config.max_objects = 6;
  config.turns = 6;
  const SynthResult result = run_synth(config);
  EXPECT_EQ(result.train, 12u);
  EXPECT_EQ(result.test, 0u);
  EXPECT_EQ(read_json(dir / "test.json"), json::array());
  for (const auto& s : load_llava_json(dir / "train.json")) {
    EXPECT_EQ(s.conversations.size(), 12u);
    const cv::Mat picture = cv::imread((dir.path() / *s.image).string());
    ASSERT_FALSE(picture.empty()) << *s.image;
    EXPECT_EQ(picture.rows, 96);
    EXPECT_EQ(fs::path(*s.image).extension(), ".jpg");
  }

  config.count = 1;
  config.test_fraction = 0.5;
  EXPECT_EQ(run_synth(config).test, 0u);  // one image always stays in train
  config.count = 3;
  config.test_fraction = 0.01;
  EXPECT_EQ(run_synth(config).test, 1u);  // a positive fraction holds out at least one
}

TEST(Synth, RerunRemovesStaleTemporaryFiles) {
  test::TempDir dir("synth-rerun");
  SynthConfig config;
  config.out = dir.path();
  config.count = 5;
  test::write_text(dir / "images/000001.png.pp-tmp-123-4", "half-written");
  run_synth(config);
  EXPECT_FALSE(fs::exists(dir / "images/000001.png.pp-tmp-123-4"));
  EXPECT_TRUE(fs::exists(dir / "images/000001.png"));
}

TEST(Synth, InvalidConfigIsRefused) {
  const auto refused = [](const std::function<void(SynthConfig&)>& change) {
    SynthConfig config;
    config.out = "/nonexistent/never-created";
    change(config);
    try {
      config.validate();
    } catch (const ConfigError&) {
      return true;
    }
    return false;
  };
  EXPECT_FALSE(refused([](SynthConfig&) {}));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.out.clear(); }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.count = 0; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.size = 32; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.size = 5000; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.test_fraction = 1.0; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.test_fraction = -0.1; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.test_fraction = std::nan(""); }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.min_objects = 0; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.min_objects = 3, c.max_objects = 2; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.max_objects = 7; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.turns = 0; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.turns = 7; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.format = "gif"; }));
  EXPECT_TRUE(refused([](SynthConfig& c) { c.jobs = -1; }));
  SynthConfig bad;
  bad.out = "/nonexistent/never-created";
  bad.count = 0;
  EXPECT_THROW(run_synth(bad), ConfigError);
  EXPECT_FALSE(fs::exists(bad.out));
}

}  // namespace
}  // namespace privprobe
