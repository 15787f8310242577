#include "study/profile_labels.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/embed.h"
#include "embed/manifest.h"
#include "image/identicon.h"
#include "profiles/profile.h"
#include "text/utf8.h"
#include "util/error.h"
#include "util/json_io.h"

using nlohmann::json;

namespace privprobe {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInk = "identicon_ink";
constexpr const char* kBlank = "identicon_blank";
constexpr const char* kSquare = "square";

// Adds `name` to the list root[key] unless it is there.
void add_name(json& root, const char* key, const std::string& name, const std::string& where) {
  json& names = root[key];
  if (!names.is_array()) throw DataError(error_message(where, std::string("'") + key + "' must be an array"));
  for (const json& n : names) {
    if (n == name) return;
  }
  names.push_back(name);
}

// The album's objects.json, checked to be one.
json read_objects_root(const fs::path& objects) {
  json root = read_json(objects);
  if (!root.is_object() || !root.contains("images") || !root["images"].is_object() || !root.contains("colors") ||
      !root.contains("shapes")) {
    throw DataError(error_message(objects.string(), "is not an objects file (needs 'shapes', 'colors' and 'images')"));
  }
  return root;
}

// The object list of one image, created empty when the image has none.
json& image_objects(json& root, const std::string& image, const fs::path& objects) {
  json& list = root["images"][image];
  if (list.is_null()) list = json::array();
  if (!list.is_array()) {
    throw DataError(error_message(objects.string() + ", image '" + image + "'", "objects must be an array"));
  }
  return list;
}

std::map<std::string, Profile> profiles_by_id(const fs::path& profiles) {
  std::map<std::string, Profile> by_id;
  for (const Profile& p : load_profiles(profiles).profiles) by_id.emplace(p.id, p);
  return by_id;
}

const Profile& find_profile(const std::map<std::string, Profile>& by_id, const std::string& id, const fs::path& manifest,
                            const fs::path& profiles) {
  const auto it = by_id.find(id);
  if (it == by_id.end()) {
    throw DataError(error_message(manifest.string(), "names profile '" + id + "', which " + profiles.string() +
                                                         " does not hold"));
  }
  return it->second;
}

json square(const std::string& color, int x, int y, int w, int h) {
  return {{"shape", kSquare}, {"color", color}, {"box", {x, y, w, h}}};
}

}  // namespace

IdenticonLabelCounts write_identicon_objects(const fs::path& objects, const fs::path& embed_folder,
                                             const fs::path& profiles, const fs::path& out) {
  json root = read_objects_root(objects);
  const std::string where = objects.string();
  add_name(root, "shapes", kSquare, where);
  add_name(root, "colors", kInk, where);
  add_name(root, "colors", kBlank, where);

  const std::map<std::string, Profile> by_id = profiles_by_id(profiles);
  const fs::path manifest = embed_folder / kManifestFile;
  IdenticonLabelCounts counts;
  for (const ManifestRow& row : load_manifest(manifest)) {
    if (row.status != "ok" || row.style != "identicon" || row.profile.empty() || row.clipped || row.identicon_cell <= 0) continue;
    const Profile& profile = find_profile(by_id, row.profile, manifest, profiles);
    const int cell = row.identicon_cell;
    if (row.box.width != kIdenticonGrid * cell || row.box.height != kIdenticonGrid * cell) {
      throw DataError(error_message(manifest.string(), "image '" + row.source + "': the picture's box is not " +
                                                           std::to_string(kIdenticonGrid) + " cells of " +
                                                           std::to_string(cell) + " px"));
    }
    const std::vector<std::uint8_t> pattern = identicon_cells(profile.username, kIdenticonGrid);
    json& list = image_objects(root, row.source, objects);
    for (int cy = 0; cy < kIdenticonGrid; ++cy) {
      for (int cx = 0; cx < kIdenticonGrid; ++cx) {
        const bool ink = pattern[static_cast<std::size_t>(cy * kIdenticonGrid + cx)] != 0;
        list.push_back(square(ink ? kInk : kBlank, row.box.x + cx * cell, row.box.y + cy * cell, cell, cell));
        ++counts.cells;
      }
    }
    ++counts.images;
  }
  write_json_atomic(out, root);
  return counts;
}

CharacterLabelCounts write_character_objects(const fs::path& objects, const fs::path& embed_folder,
                                             const fs::path& profiles, const WatermarkConfig& watermark,
                                             const fs::path& out) {
  json root = read_objects_root(objects);
  const std::string where = objects.string();
  const std::map<std::string, Profile> by_id = profiles_by_id(profiles);
  const fs::path manifest = embed_folder / kManifestFile;

  struct Labelled {
    std::string image;
    std::vector<GlyphCell> cells;
  };
  std::vector<Labelled> labelled;
  std::set<char32_t> characters;
  for (const ManifestRow& row : load_manifest(manifest)) {
    if (row.status != "ok" || (row.style != "text" && row.style != "both") || row.profile.empty() || row.clipped ||
        row.font_size <= 0) {
      continue;
    }
    const Profile& profile = find_profile(by_id, row.profile, manifest, profiles);
    Labelled item{row.source, {}};
    for (const GlyphCell& cell :
         watermark_glyph_cells(profile, watermark, row.font_size, row.identicon_cell, row.box.x, row.box.y)) {
      if (cell.box.x + cell.box.width > row.box.x + row.box.width ||
          cell.box.y + cell.box.height > row.box.y + row.box.height) {
        throw DataError(error_message(manifest.string(), "image '" + row.source +
                                                             "': the text does not fit the drawn box (were the "
                                                             "watermark settings changed since the images were drawn?)"));
      }
      if (cell.codepoint == U' ' || cell.box.empty()) continue;
      characters.insert(cell.codepoint);
      item.cells.push_back(cell);
    }
    labelled.push_back(std::move(item));
  }

  add_name(root, "shapes", kSquare, where);
  std::map<char32_t, std::string> color_of;
  // The per-patch labels are bytes (train/aux_objects.h): at most 254 shape x colour classes.
  const std::size_t classes = 1 + root["shapes"].size() * (root["colors"].size() + characters.size());
  if (classes > 255) {
    throw DataError(error_message(profiles.string(), "its texts draw " + std::to_string(characters.size()) +
                                                         " distinct characters, which with " + where + " make " +
                                                         std::to_string(classes - 1) +
                                                         " per-patch classes (at most 254)"));
  }
  for (char32_t c : characters) {
    color_of[c] = "char:" + utf8_encode(c);
    add_name(root, "colors", color_of[c], where);
  }
  CharacterLabelCounts counts;
  for (const Labelled& item : labelled) {
    json& list = image_objects(root, item.image, objects);
    for (const GlyphCell& cell : item.cells) {
      list.push_back(square(color_of.at(cell.codepoint), cell.box.x, cell.box.y, cell.box.width, cell.box.height));
      ++counts.glyphs;
    }
    ++counts.images;
  }
  counts.characters = characters.size();
  write_json_atomic(out, root);
  return counts;
}

}  // namespace privprobe
