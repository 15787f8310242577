// `privprobe synth`: the embedded default VQA "album". Scenes of coloured shapes on textured
// backgrounds, with balanced short-answer questions in several phrasings, a train/test split,
// and each image's objects (for the vision tower's auxiliary loss during pretraining).
//
// Output folder:
//   images/<id>.png     scenes (PNG, or JPEG with format = "jpg")
//   train.json          LLaVA conversation format
//   test.json           same, held-out images
//   objects.json        {"format_version", "image_size", "shapes", "colors", "geometry",
//                        "images": {"<rel image>": [{"shape", "color", "box": [x,y,w,h]}...]}}
//                       shape + box determine each mask ("geometry" says how; data/synth_scene.h)
//   synth_config.json   the resolved config (without --out and --jobs, which do not change the bytes)
// Sample ids are the zero-padded image index ("000123"), images "images/000123.png"; answers are one
// lower-case word. Same seed, same bytes, whatever --jobs is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace privprobe {

struct SynthConfig {
  std::filesystem::path out;
  std::size_t count = 3000;   // images in all (train + test)
  int size = 128;             // square image side in pixels
  std::uint64_t seed = 0;
  double test_fraction = 0.2;
  int min_objects = 1;
  int max_objects = 3;
  int turns = 1;              // question/answer turns per sample
  std::string format = "png"; // "png" or "jpg"
  int jobs = 0;               // 0: all cores

  void validate() const;  // throws ConfigError
};

struct SynthResult {
  std::size_t train = 0;
  std::size_t test = 0;
};

// Question types, in a fixed order (also the keys of per-type accuracy in `eval`).
const std::vector<std::string>& synth_question_types();

// Classifies a question written by synth into its type ("" if not recognised).
std::string synth_question_type(const std::string& question);

SynthResult run_synth(const SynthConfig& config);

}  // namespace privprobe
