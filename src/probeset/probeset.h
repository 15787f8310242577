// `privprobe probeset`: held-out images watermarked with seen (U1, label 1) and unseen (U2, label 0)
// profiles, the input of `extract` and `ask`.
//
// Paired mode (default): each base image is watermarked twice, once with a U1 profile and once with
// a U2 profile, at the same position and font size, so only the content differs (the watermark
// renderer of `embed`, embed/watermark.h). When the two profile sets are length-matched
// (`profiles --match`: the i-th usernames have equal lengths) the U2 twin of U1 profile i is U2
// profile i, so the username lines carry the same amount of ink; otherwise the twin is a random U2
// profile and a warning says the ink may differ. Unpaired mode (`--unpaired`, the paper's): each
// base image is used once, half of them (shuffled) with U1 profiles, the others with U2.
//
// Output folder:
//   images/<group>-clean.<ext>    the base image, byte-identical (ask's calibration reads it)
//   images/<group>-seen.<ext>     watermarked with a U1 profile (paired, or unpaired label 1)
//   images/<group>-unseen.<ext>   watermarked with a U2 profile
//   probeset.json                 see ProbeSet below; sample paths are relative to this folder
// Images keep their source's format; JPEGs are edited in the DCT domain (image/jpeg_edit.h).
// Group = index of the base image (0-based, sources in sorted order after the seeded selection).
// Profile numbering (`profile_index`): U1 profile i is i, U2 profile j is |U1| + j.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "embed/watermark.h"
#include "image/image_file.h"

namespace privprobe {

inline constexpr const char* kProbesetFile = "probeset.json";
inline constexpr const char* kDefaultProbeQuestion = "What is the username?";

struct ProbesetConfig {
  std::filesystem::path data;        // LLaVA JSON of held-out samples (with image_root), or empty
  std::filesystem::path image_root;
  std::filesystem::path images;      // plain image folder (instead of data + image_root)
  std::filesystem::path seen;        // U1 profiles (JSONL)
  std::filesystem::path unseen;      // U2 profiles (JSONL)
  std::filesystem::path out;
  std::size_t count = 0;             // base images to use (0: all)
  std::filesystem::path exclude_manifest;  // a training run's embed manifest.jsonl: its sources are refused
  std::string question = kDefaultProbeQuestion;
  bool unpaired = false;
  std::uint64_t seed = 0;
  WatermarkConfig watermark;
  int jobs = 0;
  std::int64_t max_pixels = kDefaultMaxPixels;

  void validate() const;  // throws ConfigError
};

struct ProbesetResult {
  std::size_t base_images = 0;
  std::size_t samples = 0;
  bool length_matched = false;  // paired twins drawn from length-matched profile sets
  double mean_ink_difference = 0;  // paired: mean |ink(U1) - ink(U2)| / max(ink) over twins
};

ProbesetResult run_probeset(const ProbesetConfig& config);

// --- Reading a probe set (extract, ask) ---

struct ProbeProfile {
  std::string id;
  std::string username;
};

struct ProbeSample {
  std::string image;                 // relative to the probe set's folder
  std::filesystem::path image_path;  // resolved
  std::string clean_image;
  std::filesystem::path clean_path;
  int label = 0;                     // 1 seen (U1), 0 unseen (U2)
  std::string profile;               // profile id within its set
  std::int64_t profile_index = 0;    // combined numbering (see above)
  std::string username;
  std::int64_t group = 0;            // base image index
  std::string source;                // the base image, relative to the input root
};

struct ProbeSet {
  std::filesystem::path file;
  std::string sha256;                // of probeset.json's bytes
  std::string mode;                  // "paired" or "unpaired"
  std::string question;
  std::vector<ProbeProfile> seen;    // U1 in file order
  std::vector<ProbeProfile> unseen;  // U2 in file order
  std::vector<ProbeSample> samples;

  // Distinct usernames of U1 and U2 in that order (first occurrence kept): ask's candidates.
  std::vector<std::string> candidate_usernames() const;
};

// Reads and checks a probeset.json: FormatError for malformed JSON, DataError naming the file and
// sample for a missing field, a label other than 0/1, a profile index or username that disagrees
// with the profile lists, a path escaping the folder, or no samples at all; IoError naming the
// image (and the sample) when check_images is set and an image file is missing.
ProbeSet load_probeset(const std::filesystem::path& path, bool check_images = true);

}  // namespace privprobe
