// `privprobe embed`: watermark a dataset at rate r. Each image independently, with probability r,
// gets a random profile drawn on it; all randomness for an image comes from (seed, relative path),
// so results do not depend on --jobs or order, and a rerun resumes a killed one.
//
// Output folder:
//   images/<same relative paths>   watermarked images and byte-identical copies of the rest
//   <data file name>.json          (with --data) the LLaVA JSON; image paths unchanged, relative
//                                  to OUT/images
//   manifest.jsonl                 one row per input image, sorted by source
//   embed_config.json              the resolved config, its hash and the realized rate
//
// Resume: images finished by an earlier run with the same config (OUT/.embed_journal.jsonl, or
// manifest.jsonl of a finished run) are not redone; a different config is refused. Timings go
// to the log only, so the whole folder is byte-identical across runs and --jobs.
//
// Checks: every image's header (format from the bytes, dimensions against max_pixels); an image
// that is watermarked is also decoded (JPEG: entropy-decoded), which catches truncated or
// corrupt data. A copied image is not decoded past its header (that would cost more than the
// copy itself), so corrupt data deeper in an unmarked file passes through unchanged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "embed/watermark.h"
#include "image/image_file.h"

namespace privprobe {

enum class OnError { kFail, kSkip };
OnError parse_on_error(const std::string& name);  // throws ConfigError

struct EmbedConfig {
  std::filesystem::path data;        // LLaVA JSON (with image_root), or empty
  std::filesystem::path image_root;
  std::filesystem::path images;      // plain image folder (instead of data + image_root)
  std::filesystem::path profiles;
  std::filesystem::path out;
  double rate = 0.5;
  std::uint64_t seed = 0;
  WatermarkConfig watermark;
  int jobs = 0;
  OnError on_error = OnError::kFail;
  std::int64_t max_pixels = kDefaultMaxPixels;
  bool verify_copies = true;  // decode images that are copied unchanged too (false: header check only)

  void validate() const;  // throws ConfigError
};

struct ManifestRow {
  std::string source;         // relative to the input root
  std::string source_sha256;
  std::string output;         // relative to the output folder
  std::string profile;        // profile id, empty for none
  Box box;                    // empty when not watermarked
  int font_size = 0;          // 0 when no text was drawn
  int identicon_cell = 0;     // 0 when no picture was drawn
  bool clipped = false;
  bool lossless = true;
  std::string status;         // "ok" or "skipped"
  std::string error;
  std::string style;          // "text", "identicon", "both", or empty when not watermarked
};

struct EmbedResult {
  std::size_t images = 0;
  std::size_t watermarked = 0;
  std::size_t skipped = 0;
  std::size_t resumed = 0;   // finished in an earlier run
  std::size_t dropped_samples = 0;  // samples of --data left out because their image was skipped
  double realized_rate = 0;  // watermarked / (images - skipped)
};

// The summary line the CLI prints: "watermarked K of N images: realized rate X (requested r)".
std::string embed_summary(const EmbedResult& result, double requested_rate);

EmbedResult run_embed(const EmbedConfig& config);

// Reads manifest.jsonl (training and probeset stages use it). Throws FormatError/DataError.
std::vector<ManifestRow> load_manifest(const std::filesystem::path& path);

}  // namespace privprobe
