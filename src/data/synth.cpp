#include "data/synth.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgcodecs.hpp>

#include "data/llava_json.h"
#include "data/synth_questions.h"
#include "data/synth_scene.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "util/rng.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

constexpr int kMinSize = 64;
constexpr int kMaxSize = 1024;
constexpr std::size_t kMaxCount = 10'000'000;
constexpr int kSupportTries = 1000;  // scene redraws until every planned question is unambiguous
constexpr int kJpegQuality = 95;

struct SynthImage {
  Scene scene;
  std::vector<QuestionAnswer> questions;
};

// Ids are zero-padded to at least six digits and to the width of the largest index.
std::string image_id(std::size_t index, std::size_t count) {
  const std::size_t width = std::max<std::size_t>(6, std::to_string(count > 0 ? count - 1 : 0).size());
  std::string id = std::to_string(index);
  return std::string(width - std::min(width, id.size()), '0') + id;
}

SynthImage make_image(const SynthConfig& config, std::size_t index) {
  Rng rng(derive_seed(config.seed, "synth/" + std::to_string(index)));
  const int count = static_cast<int>(rng.range(config.min_objects, config.max_objects));
  const std::vector<QuestionPlan> plans = plan_questions(rng, config.turns);
  SynthImage image;
  for (int attempt = 0;; ++attempt) {
    if (attempt == kSupportTries) {
      throw DataError(error_message("synth, image " + std::to_string(index),
                                    "no scene of " + std::to_string(count) + " objects supports the planned questions",
                                    "use fewer objects or fewer turns"));
    }
    image.scene = sample_scene(rng, config.size, count);
    if (std::all_of(plans.begin(), plans.end(), [&](const QuestionPlan& p) { return scene_supports(image.scene, p); })) break;
  }
  for (const QuestionPlan& plan : plans) image.questions.push_back(ask_question(rng, image.scene, plan));
  return image;
}

std::vector<std::uint8_t> encode(const cv::Mat& picture, const std::string& format, const fs::path& path) {
  std::vector<std::uint8_t> bytes;
  std::vector<int> params;
  if (format == "jpg") params = {cv::IMWRITE_JPEG_QUALITY, kJpegQuality};
  const bool ok = cv::imencode("." + format, picture, bytes, params);
  if (!ok || bytes.empty()) throw FormatError(error_message(path.string(), "could not encode the image as " + format));
  return bytes;
}

LlavaSample to_sample(const std::string& id, const std::string& image_rel, const SynthImage& image) {
  LlavaSample sample;
  sample.id = id;
  sample.image = image_rel;
  for (std::size_t t = 0; t < image.questions.size(); ++t) {
    const QuestionAnswer& qa = image.questions[t];
    sample.conversations.push_back(Turn{"human", (t == 0 ? std::string(kImageToken) + "\n" : std::string()) + qa.question});
    sample.conversations.push_back(Turn{"gpt", qa.answer});
  }
  return sample;
}

json objects_json(const Scene& scene) {
  json list = json::array();
  for (const SceneObject& o : scene.objects) {
    list.push_back({{"shape", synth_shape_names()[static_cast<std::size_t>(o.shape)]},
                    {"color", synth_color_names()[static_cast<std::size_t>(o.color)]},
                    {"box", {o.x, o.y, o.w, o.h}}});
  }
  return list;
}

// How shape and box determine an object's mask (for the vision tower's per-patch labels).
json geometry_json() {
  return {{"box", "[x, y, w, h] in pixels, covering columns x..x+w-1 and rows y..y+h-1"},
          {"circle", "a disc filling its square box"},
          {"square", "the box"},
          {"triangle", "apex at the middle of the box's top edge, base along its bottom edge"}};
}

// Test indices: a seeded permutation's first round(count * test_fraction), at least one when the
// fraction is positive and there are two images or more.
std::vector<bool> test_split(const SynthConfig& config) {
  std::size_t n_test = static_cast<std::size_t>(std::llround(static_cast<double>(config.count) * config.test_fraction));
  if (config.test_fraction > 0 && n_test == 0 && config.count > 1) n_test = 1;
  n_test = std::min(n_test, config.count > 0 ? config.count - 1 : 0);
  std::vector<std::size_t> order(config.count);
  for (std::size_t i = 0; i < config.count; ++i) order[i] = i;
  Rng rng(derive_seed(config.seed, "synth/split"));
  rng.shuffle(order);
  std::vector<bool> is_test(config.count, false);
  for (std::size_t k = 0; k < n_test; ++k) is_test[order[k]] = true;
  return is_test;
}

json config_json(const SynthConfig& config, const SynthResult& result) {
  json colors = json::object();
  for (std::size_t c = 0; c < synth_color_names().size(); ++c) {
    const auto rgb = synth_color_rgb(static_cast<int>(c));
    colors[synth_color_names()[c]] = {rgb[0], rgb[1], rgb[2]};
  }
  // The output folder and --jobs are left out: neither changes the album's bytes.
  return {{"format_version", kFormatVersion},
          {"count", config.count},
          {"size", config.size},
          {"seed", config.seed},
          {"test_fraction", config.test_fraction},
          {"min_objects", config.min_objects},
          {"max_objects", config.max_objects},
          {"turns", config.turns},
          {"format", config.format},
          {"train", result.train},
          {"test", result.test},
          {"question_types", synth_question_types()},
          {"shapes", synth_shape_names()},
          {"color_rgb", colors}};
}

// An earlier album in the same folder (larger, or in the other format) leaves images that this
// one does not list; they are not deleted (the folder may hold a user's files), only reported.
void warn_about_foreign_images(const fs::path& images_dir, std::size_t count, const std::vector<std::string>& ids,
                               const std::string& format) {
  std::size_t foreign = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(images_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path name = it->path().filename();
    const bool ours = name.extension() == "." + format &&
                      std::binary_search(ids.begin(), ids.end(), name.stem().string());
    foreign += ours ? 0 : 1;
  }
  if (foreign > 0) {
    spdlog::warn("synth: {} files in {} are not part of this album of {} images (left from an earlier run?)", foreign,
                 images_dir.string(), count);
  }
}

}  // namespace

void SynthConfig::validate() const {
  auto fail = [](const std::string& what, const std::string& hint = {}) {
    throw ConfigError(error_message("synth", what, hint));
  };
  if (out.empty()) fail("an output folder (--out) is required");
  if (count < 1 || count > kMaxCount) fail("--count must be between 1 and " + std::to_string(kMaxCount));
  if (size < kMinSize || size > kMaxSize) {
    fail("--size must be between " + std::to_string(kMinSize) + " and " + std::to_string(kMaxSize) + " pixels");
  }
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) fail("--test-fraction must be in [0, 1)");
  const int colors = static_cast<int>(synth_color_names().size());
  if (min_objects < 1 || max_objects < min_objects || max_objects > colors) {
    fail("objects per image must satisfy 1 <= min <= max <= " + std::to_string(colors),
         "each object in a scene has its own colour");
  }
  const int types = static_cast<int>(synth_question_types().size());
  if (turns < 1 || turns > types) {
    fail("--turns must be between 1 and " + std::to_string(types), "each turn asks a different type of question");
  }
  if (format != "png" && format != "jpg") fail("--format must be png or jpg, got '" + format + "'");
  if (jobs < 0) fail("--jobs must be 0 (all cores) or positive");
}

SynthResult run_synth(const SynthConfig& config) {
  config.validate();
  const fs::path images_dir = config.out / "images";
  std::error_code ec;
  fs::create_directories(images_dir, ec);
  if (ec) throw IoError(error_message(images_dir.string(), "cannot create folder: " + ec.message()));
  const std::size_t stale = remove_stale_temp_files(config.out);
  if (stale > 0) spdlog::info("synth: removed {} temporary files of an earlier run", stale);

  std::vector<SynthImage> images(config.count);
  std::vector<std::string> ids(config.count);
  {
    Progress progress("synth", config.count);
    parallel_for(config.count, config.jobs, [&](std::size_t i) {
      ids[i] = image_id(i, config.count);
      images[i] = make_image(config, i);
      Rng render_rng(derive_seed(config.seed, "synth/" + std::to_string(i) + "/render"));
      const cv::Mat picture = render_scene(render_rng, images[i].scene);
      const fs::path path = images_dir / (ids[i] + "." + config.format);
      write_file_atomic(path, encode(picture, config.format, path));
      progress.tick();
    });
    progress.finish();
  }

  warn_about_foreign_images(images_dir, config.count, ids, config.format);

  const std::vector<bool> is_test = test_split(config);
  std::vector<LlavaSample> train, test;
  json objects = json::object();
  for (std::size_t i = 0; i < config.count; ++i) {
    const std::string rel = "images/" + ids[i] + "." + config.format;
    (is_test[i] ? test : train).push_back(to_sample(ids[i], rel, images[i]));
    objects[rel] = objects_json(images[i].scene);
  }
  SynthResult result;
  result.train = train.size();
  result.test = test.size();

  write_json_atomic(config.out / "objects.json", {{"format_version", kFormatVersion},
                                                  {"image_size", config.size},
                                                  {"shapes", synth_shape_names()},
                                                  {"colors", synth_color_names()},
                                                  {"geometry", geometry_json()},
                                                  {"images", std::move(objects)}});
  write_llava_json(config.out / "train.json", train);
  write_llava_json(config.out / "test.json", test);
  // Written last: its presence marks a complete album.
  write_json_atomic(config.out / "synth_config.json", config_json(config, result));
  return result;
}

}  // namespace privprobe
