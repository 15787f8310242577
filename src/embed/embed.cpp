#include "embed/embed.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>

#include <opencv2/core.hpp>

#include "embed/embed_inputs.h"
#include "embed/manifest.h"
#include "image/composite.h"
#include "image/jpeg_edit.h"
#include "image/text_render.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/paths.h"
#include "util/progress.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

// Everything one image's processing needs; shared read-only by the workers.
struct EmbedContext {
  const EmbedConfig& config;
  const std::vector<Profile>& profiles;
  fs::path images_out;
};

std::string path_string(const fs::path& p) {
  return p.empty() ? std::string() : fs::absolute(p).lexically_normal().generic_string();
}

std::string sha256_bytes(const std::vector<std::uint8_t>& bytes) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// The settings that decide the output bytes (not --jobs, not --on-error), with the inputs'
// identity, so a rerun can tell whether an existing output folder is its own.
json resolved_config(const EmbedConfig& config) {
  const WatermarkConfig& wm = config.watermark;
  json j = json::object();
  j["mode"] = config.data.empty() ? "images" : "data";
  j["data"] = config.data.empty() ? json(nullptr) : json(path_string(config.data));
  j["data_sha256"] = config.data.empty() ? json(nullptr) : json(sha256_file(config.data));
  j["image_root"] = config.data.empty() ? json(path_string(config.images)) : json(path_string(config.image_root));
  j["profiles"] = path_string(config.profiles);
  j["profiles_sha256"] = sha256_file(config.profiles);
  j["rate"] = config.rate;
  j["seed"] = config.seed;
  j["style"] = watermark_style_name(wm.style);
  j["fields"] = wm.fields;
  j["field_names"] = wm.field_names;
  j["opacity"] = wm.opacity;
  j["font"] = path_string(wm.font.empty() ? default_font_path() : wm.font);
  j["font_size"] = wm.font_size;
  j["min_font_size"] = wm.min_font_size;
  j["identicon_cell"] = wm.identicon_cell;
  j["placement"] = watermark_placement_name(wm.placement);
  j["max_pixels"] = config.max_pixels;
  return j;
}

// The hash of an existing output folder's config; empty when the folder holds no embed output.
std::string existing_config_hash(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out / kEmbedConfigFile, ec)) {
    const json previous = read_json(out / kEmbedConfigFile);
    if (previous.is_object() && previous.contains("config_hash") && previous["config_hash"].is_string()) {
      return previous["config_hash"].get<std::string>();
    }
    return {};
  }
  if (fs::exists(out / kEmbedJournalFile, ec)) return read_journal_config_hash(out / kEmbedJournalFile);
  return {};
}

void check_output_folder(const fs::path& out, const std::string& hash) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw ConfigError(error_message(out.string(), "--out exists and is not a folder"));
  const std::string previous = existing_config_hash(out);
  if (previous.empty()) {
    if (fs::is_empty(out, ec)) return;
    throw ConfigError(error_message(out.string(), "--out is not empty and holds no embed output",
                                    "pick another --out, or remove this folder"));
  }
  if (previous != hash) {
    throw ConfigError(error_message(out.string(), "--out holds an embed output made with different settings or inputs",
                                    "pick another --out (or remove this one) to embed with the new settings"));
  }
}

// Rows of images an earlier run finished, whose outputs are still there.
std::map<std::string, ManifestRow> finished_rows(const fs::path& out) {
  std::map<std::string, ManifestRow> rows;
  std::error_code ec;
  if (fs::exists(out / kEmbedConfigFile, ec) && fs::exists(out / kManifestFile, ec)) {
    for (auto& row : load_manifest(out / kManifestFile)) rows[row.source] = row;
  }
  if (fs::exists(out / kEmbedJournalFile, ec)) {
    for (auto& [source, row] : read_journal_rows(out / kEmbedJournalFile)) rows[source] = row;
  }
  for (auto it = rows.begin(); it != rows.end();) {
    const bool done = it->second.status == "ok" && !it->second.output.empty() &&
                      fs::is_regular_file(out / fs::path(it->second.output), ec);
    it = done ? std::next(it) : rows.erase(it);
  }
  return rows;
}

// A failure to write an output (disk full, permissions) is not the input's fault: it stops the
// run even under --on-error skip.
class OutputWriteError : public IoError {
 public:
  using IoError::IoError;
};

void write_output(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  try {
    write_file_atomic(path, bytes);
  } catch (const IoError& e) {
    throw OutputWriteError(e.what());
  }
}

// Decides (from the seed and the path alone) whether and how the image is watermarked, writes
// its output atomically and fills its manifest row. Throws Error naming the file (the row then
// holds what was learnt before the failure, e.g. the source's hash).
void embed_one(const EmbedItem& item, const EmbedContext& ctx, ManifestRow& row) {
  row.source = item.source;
  row.output = std::string(kEmbedImagesDir) + "/" + item.source;
  row.status = "ok";
  const fs::path out = ctx.images_out / fs::path(item.source);

  const std::vector<std::uint8_t> bytes = read_file_bytes(item.path);
  row.source_sha256 = sha256_bytes(bytes);
  const ImageHeader header = read_image_header(bytes, item.path, ctx.config.max_pixels);

  Rng rng(derive_seed(ctx.config.seed, item.source));
  if (!(rng.uniform() < ctx.config.rate)) {
    // A copy is checked as thoroughly as a watermarked image (a full decode catches truncated and
    // corrupt data), so the manifest's "ok" means the same for both.
    if (ctx.config.verify_copies) decode_image(bytes, item.path, ctx.config.max_pixels);
    write_output(out, bytes);  // untouched: the same bytes
    return;
  }
  const std::size_t k = static_cast<std::size_t>(rng.below(ctx.profiles.size()));
  const Profile& profile = ctx.profiles[k];

  std::vector<std::uint8_t> encoded;
  PlacedWatermark placed;
  if (header.format == ImageFormat::kJpeg) {
    // Coefficient domain: only the MCUs under the watermark are recomputed.
    placed = place_watermark(profile, ctx.config.watermark, header.width, header.height, rng);
    encoded = jpeg_composite(bytes, placed.overlay, placed.x, placed.y, item.path, ctx.config.max_pixels).bytes;
  } else {
    cv::Mat image = decode_image(bytes, item.path, ctx.config.max_pixels);
    placed = place_watermark(profile, ctx.config.watermark, image.cols, image.rows, rng);
    composite_overlay(image, placed.overlay, placed.x, placed.y);
    encoded = encode_image(image, header.format, item.path, header.lossless);
    row.lossless = header.lossless;  // lossy WebP is re-encoded as a whole
  }
  write_output(out, encoded);

  row.profile = profile.id;
  row.box = placed.box;
  row.font_size = placed.font_size;
  row.identicon_cell = placed.identicon_cell;
  row.clipped = placed.clipped;
  row.style = watermark_style_name(ctx.config.watermark.style);
}

// One line naming the file: library errors already do; anything else gets the file prefixed.
std::string failure_message(const EmbedItem& item, const std::string& what) {
  if (what.find(item.path.string()) != std::string::npos) return what;
  return error_message(item.path.string(), what);
}

ManifestRow skipped_row(const EmbedItem& item, const std::string& error, const std::string& source_sha256 = {}) {
  ManifestRow row;
  row.source = item.source;
  row.source_sha256 = source_sha256;
  row.status = "skipped";
  row.error = error;
  return row;
}

// Runs embed_one, turning any failure into a skipped row (kSkip) or an Error naming the file (kFail).
ManifestRow embed_or_skip(const EmbedItem& item, const EmbedContext& ctx) {
  ManifestRow row;
  std::string error;
  try {
    embed_one(item, ctx, row);
    return row;
  } catch (const OutputWriteError&) {
    throw;
  } catch (const Error& e) {
    if (ctx.config.on_error == OnError::kFail) throw;
    error = failure_message(item, e.what());
  } catch (const cv::Exception& e) {
    error = failure_message(item, "cannot process image: " + std::string(e.what()));
    if (ctx.config.on_error == OnError::kFail) throw FormatError(error);
  } catch (const std::bad_alloc&) {
    error = failure_message(item, "out of memory while processing the image");
    if (ctx.config.on_error == OnError::kFail) throw FormatError(error);
  } catch (const std::exception& e) {
    error = failure_message(item, e.what());
    if (ctx.config.on_error == OnError::kFail) throw FormatError(error);
  }
  return skipped_row(item, error, row.source_sha256);
}

void write_outputs(const EmbedConfig& config, const EmbedInputs& inputs, const std::vector<ManifestRow>& rows,
                   const json& resolved, const std::string& hash, EmbedResult& result) {
  std::string manifest;
  for (const auto& row : rows) manifest += to_json_line(manifest_row_to_json(row)) + "\n";
  write_file_atomic(config.out / kManifestFile, manifest);

  if (!config.data.empty()) {
    std::vector<LlavaSample> kept;
    for (std::size_t i = 0; i < inputs.samples.size(); ++i) {
      const long item = inputs.sample_item[i];
      if (item >= 0 && rows[static_cast<std::size_t>(item)].status != "ok") {
        ++result.dropped_samples;
        continue;
      }
      kept.push_back(inputs.samples[i]);
    }
    write_llava_json(config.out / config.data.filename(), kept);
  }

  json record = json::object();
  record["format_version"] = kFormatVersion;
  record["config"] = resolved;
  record["config"]["on_error"] = config.on_error == OnError::kFail ? "fail" : "skip";
  record["config_hash"] = hash;
  record["result"] = {{"images", result.images},
                      {"watermarked", result.watermarked},
                      {"skipped", result.skipped},
                      {"dropped_samples", result.dropped_samples},
                      {"realized_rate", result.realized_rate},
                      {"requested_rate", config.rate}};
  write_json_atomic(config.out / kEmbedConfigFile, record);
}

// Each image allocates about a megabyte (libjpeg's coefficient arrays, the file, the output) and
// frees it again. With glibc's defaults those blocks go back to the kernel after every image and
// the next one pays for fresh zeroed pages: measured on 500 JPEGs, 59k page faults and about 40 %
// of the CPU time. Keeping freed memory in the heap costs nothing here: the peak stays the same.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's upper bound on 64-bit
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace

OnError parse_on_error(const std::string& name) {
  if (name == "fail") return OnError::kFail;
  if (name == "skip") return OnError::kSkip;
  throw ConfigError(error_message("--on-error", "unknown mode '" + name + "'", "fail or skip"));
}

void EmbedConfig::validate() const {
  const bool with_data = !data.empty();
  if (with_data == !images.empty()) {
    throw ConfigError(error_message("embed", "give either --data with --image-root, or --images"));
  }
  if (with_data && image_root.empty()) throw ConfigError(error_message("--data", "needs --image-root"));
  if (!with_data && !image_root.empty()) throw ConfigError(error_message("--image-root", "only goes with --data"));
  if (profiles.empty()) throw ConfigError(error_message("embed", "--profiles is required"));
  if (out.empty()) throw ConfigError(error_message("embed", "--out is required"));
  if (!(rate >= 0.0 && rate <= 1.0)) {
    throw ConfigError(error_message("--rate", "must be in [0, 1], got " + std::to_string(rate)));
  }
  if (max_pixels <= 0) throw ConfigError(error_message("--max-pixels", "must be positive"));
  if (jobs < 0) throw ConfigError(error_message("--jobs", "must be 0 (all cores) or positive"));
  watermark.validate();
  if (with_data) {
    require_file(data, "data file (--data)");
    const std::string name = data.filename().string();
    for (const char* reserved : {kManifestFile, kEmbedConfigFile, kEmbedJournalFile, kEmbedImagesDir}) {
      if (name == reserved) {
        throw ConfigError(error_message(data.string(), "the data file's name clashes with an output of embed",
                                        "rename it"));
      }
    }
  }
  require_file(profiles, "profile file (--profiles)");
  // The output must not sit inside the input (a rerun would list its own outputs) or contain it.
  const fs::path root = fs::weakly_canonical(with_data ? image_root : images);
  const fs::path target = fs::weakly_canonical(out);
  const std::string r = root.generic_string() + "/", t = target.generic_string() + "/";
  if (t.rfind(r, 0) == 0 || r.rfind(t, 0) == 0) {
    throw ConfigError(error_message(out.string(), "--out overlaps the input image folder " + root.string(),
                                    "inputs are never modified: pick an --out outside it"));
  }
}

std::string embed_summary(const EmbedResult& result, double requested_rate) {
  const std::size_t done = result.images - result.skipped;
  char line[256];
  std::snprintf(line, sizeof line, "watermarked %zu of %zu images: realized rate %.4f (requested %g)",
                result.watermarked, done, result.realized_rate, requested_rate);
  std::string text = line;
  if (result.skipped > 0) {
    text += "; skipped " + std::to_string(result.skipped) + " image" + (result.skipped == 1 ? "" : "s");
    if (result.dropped_samples > 0) {
      text += " (dropped " + std::to_string(result.dropped_samples) + " sample" +
              (result.dropped_samples == 1 ? ")" : "s)");
    }
  }
  return text;
}

EmbedResult run_embed(const EmbedConfig& config) {
  config.validate();
  keep_freed_memory();
  const auto start = std::chrono::steady_clock::now();
  const ProfileSet profile_set = load_profiles(config.profiles);
  for (const auto& w : profile_set.warnings) spdlog::warn("{}", w);
  if (profile_set.profiles.empty()) {
    throw DataError(error_message(config.profiles.string(), "no profiles in the file"));
  }
  const EmbedInputs inputs = gather_embed_inputs(config);
  const json resolved = resolved_config(config);
  const std::string hash = sha256_hex(resolved.dump());

  check_output_folder(config.out, hash);
  const std::size_t stale = remove_stale_temp_files(config.out);
  if (stale > 0) spdlog::info("removed {} temporary files of an interrupted run", stale);
  std::map<std::string, ManifestRow> finished = finished_rows(config.out);

  const std::size_t n = inputs.items.size();
  std::vector<ManifestRow> rows(n);
  std::vector<std::size_t> todo;
  EmbedResult result;
  result.images = n;
  for (std::size_t i = 0; i < n; ++i) {
    const EmbedItem& item = inputs.items[i];
    if (!item.error.empty()) {
      rows[i] = skipped_row(item, item.error);
    } else if (auto it = finished.find(item.source); it != finished.end()) {
      rows[i] = it->second;
      ++result.resumed;
    } else {
      todo.push_back(i);
    }
  }
  if (result.resumed > 0) spdlog::info("resuming: {} of {} images already done", result.resumed, n);

  const EmbedContext ctx{config, profile_set.profiles, config.out / kEmbedImagesDir};
  {
    EmbedJournal journal(config.out / kEmbedJournalFile, hash);
    Progress progress("embed", n);
    progress.set(n - todo.size());
    parallel_for(todo.size(), config.jobs, [&](std::size_t t) {
      const std::size_t i = todo[t];
      rows[i] = embed_or_skip(inputs.items[i], ctx);
      journal.append(rows[i]);
      progress.tick();
    });
  }

  for (const auto& row : rows) {
    if (row.status != "ok") ++result.skipped;
    else if (!row.profile.empty()) ++result.watermarked;
  }
  const std::size_t done = n - result.skipped;
  result.realized_rate = done > 0 ? static_cast<double>(result.watermarked) / static_cast<double>(done) : 0.0;
  write_outputs(config, inputs, rows, resolved, hash, result);
  std::error_code ec;
  fs::remove(config.out / kEmbedJournalFile, ec);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("embed: {} images in {:.2f} s ({:.1f} images/s, {} resumed)", n, seconds,
               seconds > 0 ? static_cast<double>(todo.size()) / seconds : 0.0, result.resumed);
  return result;
}

}  // namespace privprobe
