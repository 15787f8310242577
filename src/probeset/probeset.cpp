#include "probeset/probeset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/core.hpp>

#include "image/composite.h"
#include "image/jpeg_edit.h"
#include "image/text_render.h"
#include "probeset/probeset_sources.h"
#include "profiles/profile.h"
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

std::string path_string(const fs::path& p) {
  return p.empty() ? std::string() : fs::absolute(p).lexically_normal().generic_string();
}
json path_or_null(const fs::path& p) { return p.empty() ? json(nullptr) : json(path_string(p)); }

// Characters of a UTF-8 string (the font is monospaced, so this is the line's width).
std::size_t utf8_length(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// `profiles --match` output: same count and the i-th usernames equally long.
bool length_matched(const std::vector<Profile>& a, const std::vector<Profile>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (utf8_length(a[i].username) != utf8_length(b[i].username)) return false;
  }
  return true;
}

std::string extension_for(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "jpg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kBmp: return "bmp";
    case ImageFormat::kWebp: return "webp";
    case ImageFormat::kUnknown: break;
  }
  return "img";
}

std::int64_t ink_pixels(const Overlay& overlay) {
  std::int64_t ink = 0;
  for (std::size_t i = 3; i < overlay.rgba.size(); i += 4) ink += overlay.rgba[i] > 0;
  return ink;
}

// One drawn sample, as probeset.json records it (the overlay itself is not kept).
struct DrawnSample {
  std::string image;
  int label = 0;
  const Profile* profile = nullptr;
  std::int64_t profile_index = 0;
  int x = 0, y = 0;
  Box box;
  int font_size = 0;
  int identicon_cell = 0;
  bool clipped = false;
  std::int64_t ink = 0;  // overlay pixels with alpha > 0
};

DrawnSample drawn(std::string image, int label, const Profile& profile, std::int64_t profile_index,
                  const PlacedWatermark& placed) {
  return {std::move(image), label,       &profile,       profile_index,   placed.x, placed.y,
          placed.box,       placed.font_size, placed.identicon_cell, placed.clipped, ink_pixels(placed.overlay)};
}

struct GroupOutput {
  std::string clean_image;
  std::vector<DrawnSample> samples;
};

struct Context {
  const ProbesetConfig& config;
  const std::vector<Profile>& seen;
  const std::vector<Profile>& unseen;
  bool matched = false;
  fs::path out;
};

// The twins of a pair at one font size and one position where both blocks fit, so only the
// content differs: each block is first fitted alone (place_watermark's size choice), the pair
// takes the smaller size, then the top-left is drawn where the larger block fits (watermark_origin).
std::pair<PlacedWatermark, PlacedWatermark> place_twins(const Profile& a, const Profile& b, const WatermarkConfig& wm,
                                                        int width, int height, Rng& rng) {
  Rng size_rng(0);  // the size choice draws no randomness that matters; positions come from rng
  const int font_a = place_watermark(a, wm, width, height, size_rng).font_size;
  const int font_b = place_watermark(b, wm, width, height, size_rng).font_size;
  const int font = std::min(font_a, font_b);
  const PlacedWatermark sized_a = render_watermark_at(a, wm, width, height, 0, 0, font);
  const PlacedWatermark sized_b = render_watermark_at(b, wm, width, height, 0, 0, font);
  const int block_w = std::max(sized_a.overlay.width, sized_b.overlay.width);
  const int block_h = std::max(sized_a.overlay.height, sized_b.overlay.height);
  const Origin at = watermark_origin(wm.placement, width, height, block_w, block_h, rng);
  return {render_watermark_at(a, wm, width, height, at.x, at.y, font),
          render_watermark_at(b, wm, width, height, at.x, at.y, font)};
}

std::vector<std::uint8_t> watermarked_bytes(const std::vector<std::uint8_t>& bytes, const ImageHeader& header,
                                            const PlacedWatermark& placed, const fs::path& path, std::int64_t max_pixels) {
  if (header.format == ImageFormat::kJpeg) {
    return jpeg_composite(bytes, placed.overlay, placed.x, placed.y, path, max_pixels).bytes;
  }
  cv::Mat image = decode_image(bytes, path, max_pixels);
  composite_overlay(image, placed.overlay, placed.x, placed.y);
  return encode_image(image, header.format, path, header.lossless);
}

// The clean copy goes through the same encoder as its watermarked twins (lossy WebP is
// re-encoded as a whole), so clean and watermarked differ only under the watermark.
std::vector<std::uint8_t> clean_bytes(const std::vector<std::uint8_t>& bytes, const ImageHeader& header,
                                      const fs::path& path, std::int64_t max_pixels) {
  if (header.format == ImageFormat::kJpeg || header.lossless) return bytes;
  return encode_image(decode_image(bytes, path, max_pixels), header.format, path, false);
}

// Writes one base image's clean copy and watermarked samples. `label` is -1 in paired mode.
GroupOutput make_group(const BaseImage& base, std::size_t group, int label, const Context& ctx) {
  const ProbesetConfig& config = ctx.config;
  const std::vector<std::uint8_t> bytes = read_file_bytes(base.path);
  const ImageHeader header = read_image_header(bytes, base.path, config.max_pixels);
  char stem[32];
  std::snprintf(stem, sizeof stem, "images/%06zu-", group);
  const std::string ext = "." + extension_for(header.format);

  GroupOutput out;
  out.clean_image = std::string(stem) + "clean" + ext;
  write_file_atomic(ctx.out / out.clean_image, clean_bytes(bytes, header, base.path, config.max_pixels));

  Rng rng(derive_seed(config.seed, "probeset/" + base.source));
  const auto seen_offset = static_cast<std::int64_t>(ctx.seen.size());
  const auto write = [&](const PlacedWatermark& placed, const std::string& name) {
    write_file_atomic(ctx.out / name, watermarked_bytes(bytes, header, placed, base.path, config.max_pixels));
  };
  if (label < 0) {
    const std::size_t a = static_cast<std::size_t>(rng.below(ctx.seen.size()));
    const std::size_t b = ctx.matched ? a : static_cast<std::size_t>(rng.below(ctx.unseen.size()));
    const auto [placed_a, placed_b] = place_twins(ctx.seen[a], ctx.unseen[b], config.watermark, header.width, header.height, rng);
    out.samples.push_back(drawn(std::string(stem) + "seen" + ext, 1, ctx.seen[a], static_cast<std::int64_t>(a), placed_a));
    out.samples.push_back(drawn(std::string(stem) + "unseen" + ext, 0, ctx.unseen[b], seen_offset + static_cast<std::int64_t>(b), placed_b));
    write(placed_a, out.samples[0].image);
    write(placed_b, out.samples[1].image);
  } else {
    const std::vector<Profile>& set = label == 1 ? ctx.seen : ctx.unseen;
    const std::size_t k = static_cast<std::size_t>(rng.below(set.size()));
    const PlacedWatermark placed = place_watermark(set[k], config.watermark, header.width, header.height, rng);
    out.samples.push_back(drawn(std::string(stem) + (label == 1 ? "seen" : "unseen") + ext, label, set[k],
                                (label == 1 ? 0 : seen_offset) + static_cast<std::int64_t>(k), placed));
    write(placed, out.samples[0].image);
  }
  return out;
}

json sample_json(const DrawnSample& s, const GroupOutput& g, const BaseImage& base, std::size_t group) {
  const Box& box = s.box;
  return {{"image", s.image},
          {"clean_image", g.clean_image},
          {"label", s.label},
          {"profile", s.profile->id},
          {"profile_index", s.profile_index},
          {"username", s.profile->username},
          {"group", group},
          {"source", base.source},
          {"x", s.x},
          {"y", s.y},
          {"box", {box.x, box.y, box.width, box.height}},
          {"font_size", s.font_size},
          {"identicon_cell", s.identicon_cell},
          {"clipped", s.clipped},
          {"ink", s.ink}};
}

json profiles_json(const std::vector<Profile>& profiles) {
  json list = json::array();
  for (const Profile& p : profiles) list.push_back({{"id", p.id}, {"username", p.username}});
  return list;
}

void check_output_folder(const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw ConfigError(error_message(out.string(), "--out exists and is not a folder"));
  if (fs::is_empty(out, ec) || fs::exists(out / kProbesetFile, ec)) return;
  throw ConfigError(error_message(out.string(), "--out is not empty and holds no probe set",
                                  "pick another --out, or remove this folder"));
}

std::vector<Profile> load_profile_set(const fs::path& path, const char* flag) {
  ProfileSet set = load_profiles(path);
  for (const auto& w : set.warnings) spdlog::warn("{}", w);
  if (set.profiles.empty()) throw DataError(error_message(path.string(), std::string("no profiles in the ") + flag + " file"));
  return std::move(set.profiles);
}

}  // namespace

void ProbesetConfig::validate() const {
  const bool with_data = !data.empty();
  if (with_data == !images.empty()) {
    throw ConfigError(error_message("probeset", "give either --data with --image-root, or --images"));
  }
  if (with_data && image_root.empty()) throw ConfigError(error_message("--data", "needs --image-root"));
  if (!with_data && !image_root.empty()) throw ConfigError(error_message("--image-root", "only goes with --data"));
  if (seen.empty()) throw ConfigError(error_message("probeset", "--seen (U1 profiles) is required"));
  if (unseen.empty()) throw ConfigError(error_message("probeset", "--unseen (U2 profiles) is required"));
  if (out.empty()) throw ConfigError(error_message("probeset", "--out is required"));
  if (question.empty()) throw ConfigError(error_message("--question", "must not be empty"));
  if (max_pixels <= 0) throw ConfigError(error_message("--max-pixels", "must be positive"));
  if (jobs < 0) throw ConfigError(error_message("--jobs", "must be 0 (all cores) or positive"));
  watermark.validate();
  if (with_data) require_file(data, "data file (--data)");
  require_file(seen, "seen profile file (--seen)");
  require_file(unseen, "unseen profile file (--unseen)");
  if (!exclude_manifest.empty()) require_file(exclude_manifest, "training manifest (--exclude-manifest)");
  const fs::path root = fs::weakly_canonical(with_data ? image_root : images);
  const fs::path target = fs::weakly_canonical(out);
  const std::string r = root.generic_string() + "/", t = target.generic_string() + "/";
  if (t.rfind(r, 0) == 0 || r.rfind(t, 0) == 0) {
    throw ConfigError(error_message(out.string(), "--out overlaps the input image folder " + root.string(),
                                    "inputs are never modified: pick an --out outside it"));
  }
}

ProbesetResult run_probeset(const ProbesetConfig& config) {
  config.validate();
  const std::vector<Profile> seen = load_profile_set(config.seen, "--seen");
  const std::vector<Profile> unseen = load_profile_set(config.unseen, "--unseen");
  for (const Profile& a : seen) {
    for (const Profile& b : unseen) {
      if (a.username == b.username) {
        spdlog::warn("probeset: username '{}' is in both {} and {}: its samples carry both labels", a.username,
                     config.seen.string(), config.unseen.string());
      }
    }
  }
  std::vector<BaseImage> images = select_base_images(gather_base_images(config), config.count, config.seed);
  const fs::path input = config.data.empty() ? config.images : config.data;
  if (images.empty()) throw DataError(error_message(input.string(), "no images to build a probe set from"));
  if (config.unpaired && images.size() < 2) {
    throw DataError(error_message(input.string(), "unpaired mode needs at least two images (one per label)"));
  }
  check_output_folder(config.out);
  remove_stale_temp_files(config.out);

  ProbesetResult result;
  result.base_images = images.size();
  result.length_matched = !config.unpaired && length_matched(seen, unseen);
  if (!config.unpaired && !result.length_matched && config.watermark.style != WatermarkStyle::kIdenticon) {
    spdlog::warn("probeset: the usernames of {} and {} are not length-matched, so a seen watermark and its unseen twin "
                 "differ in ink (hint: make the unseen set with `privprobe profiles --match {}`)",
                 config.seen.string(), config.unseen.string(), config.seen.string());
  }

  // Unpaired: a seeded half of the images (the larger half when odd) carries U1 profiles.
  std::vector<int> labels(images.size(), -1);
  if (config.unpaired) {
    std::vector<std::size_t> order(images.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    Rng rng(derive_seed(config.seed, "probeset/labels"));
    rng.shuffle(order);
    for (std::size_t k = 0; k < order.size(); ++k) labels[order[k]] = k < (order.size() + 1) / 2 ? 1 : 0;
  }

  const Context ctx{config, seen, unseen, result.length_matched, config.out};
  std::vector<GroupOutput> groups(images.size());
  {
    Progress progress("probeset", images.size());
    parallel_for(images.size(), config.jobs, [&](std::size_t g) {
      groups[g] = make_group(images[g], g, labels[g], ctx);
      progress.tick();
    });
  }

  json samples = json::array();
  double ink_difference = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (const DrawnSample& s : groups[g].samples) samples.push_back(sample_json(s, groups[g], images[g], g));
    if (groups[g].samples.size() == 2) {
      const auto a = static_cast<double>(groups[g].samples[0].ink);
      const auto b = static_cast<double>(groups[g].samples[1].ink);
      ink_difference += std::max(a, b) > 0 ? std::abs(a - b) / std::max(a, b) : 0.0;
    }
  }
  result.samples = samples.size();
  result.mean_ink_difference = config.unpaired ? 0.0 : ink_difference / static_cast<double>(groups.size());

  const WatermarkConfig& wm = config.watermark;
  json doc = {{"format_version", kFormatVersion},
              {"mode", config.unpaired ? "unpaired" : "paired"},
              {"question", config.question},
              {"style", watermark_style_name(wm.style)},
              {"seed", config.seed},
              {"data", path_or_null(config.data)},
              {"image_root", path_string(config.data.empty() ? config.images : config.image_root)},
              {"exclude_manifest", path_or_null(config.exclude_manifest)},
              {"seen_file", path_string(config.seen)},
              {"unseen_file", path_string(config.unseen)},
              {"seen_sha256", sha256_file(config.seen)},
              {"unseen_sha256", sha256_file(config.unseen)},
              {"pairing", config.unpaired ? json(nullptr) : json(result.length_matched ? "length-matched" : "random")},
              {"mean_ink_difference", result.mean_ink_difference},
              {"profile_numbering", "profile_index i < len(profiles.seen): profiles.seen[i]; "
                                    "otherwise profiles.unseen[i - len(profiles.seen)]"},
              {"profiles", {{"seen", profiles_json(seen)}, {"unseen", profiles_json(unseen)}}},
              {"watermark",
               {{"fields", wm.fields},
                {"field_names", wm.field_names},
                {"opacity", wm.opacity},
                {"font", path_string(wm.font.empty() ? default_font_path() : wm.font)},
                {"font_size", wm.font_size},
                {"min_font_size", wm.min_font_size},
                {"identicon_cell", wm.identicon_cell},
                {"placement", watermark_placement_name(wm.placement)}}},
              {"samples", std::move(samples)}};
  write_json_atomic(config.out / kProbesetFile, doc);
  return result;
}

}  // namespace privprobe
