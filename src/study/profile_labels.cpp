#include "study/identicon_labels.h"

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/embed.h"
#include "embed/manifest.h"
#include "embed/watermark.h"
#include "image/identicon.h"
#include "profiles/profile.h"
#include "util/error.h"
#include "util/json_io.h"

using nlohmann::json;

namespace privprobe {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInk = "identicon_ink";
constexpr const char* kBlank = "identicon_blank";

// Adds `name` to the list root[key] unless it is there.
void add_name(json& root, const char* key, const char* name, const std::string& where) {
  json& names = root[key];
  if (!names.is_array()) throw DataError(error_message(where, std::string("'") + key + "' must be an array"));
  for (const json& n : names) {
    if (n == name) return;
  }
  names.push_back(name);
}

}  // namespace

IdenticonLabelCounts write_identicon_objects(const fs::path& objects, const fs::path& embed_folder,
                                             const fs::path& profiles, const fs::path& out) {
  json root = read_json(objects);
  const std::string where = objects.string();
  if (!root.is_object() || !root.contains("images") || !root["images"].is_object() || !root.contains("colors") ||
      !root.contains("shapes")) {
    throw DataError(error_message(where, "is not an objects file (needs 'shapes', 'colors' and 'images')"));
  }
  add_name(root, "shapes", "square", where);
  add_name(root, "colors", kInk, where);
  add_name(root, "colors", kBlank, where);

  std::map<std::string, std::string> username_of;  // profile id -> username
  for (const Profile& p : load_profiles(profiles).profiles) username_of[p.id] = p.username;

  const fs::path manifest = embed_folder / kManifestFile;
  IdenticonLabelCounts counts;
  for (const ManifestRow& row : load_manifest(manifest)) {
    if (row.status != "ok" || row.style != "identicon" || row.profile.empty() || row.clipped || row.identicon_cell <= 0) continue;
    const auto name = username_of.find(row.profile);
    if (name == username_of.end()) {
      throw DataError(error_message(manifest.string(), "names profile '" + row.profile + "', which " + profiles.string() +
                                                           " does not hold"));
    }
    const int cell = row.identicon_cell;
    if (row.box.width != kIdenticonGrid * cell || row.box.height != kIdenticonGrid * cell) {
      throw DataError(error_message(manifest.string(), "image '" + row.source + "': the picture's box is not " +
                                                           std::to_string(kIdenticonGrid) + " cells of " +
                                                           std::to_string(cell) + " px"));
    }
    const std::vector<std::uint8_t> pattern = identicon_cells(name->second, kIdenticonGrid);
    json& list = root["images"][row.source];
    if (list.is_null()) list = json::array();
    if (!list.is_array()) throw DataError(error_message(where + ", image '" + row.source + "'", "objects must be an array"));
    for (int cy = 0; cy < kIdenticonGrid; ++cy) {
      for (int cx = 0; cx < kIdenticonGrid; ++cx) {
        const bool ink = pattern[static_cast<std::size_t>(cy * kIdenticonGrid + cx)] != 0;
        list.push_back({{"shape", "square"},
                        {"color", ink ? kInk : kBlank},
                        {"box", {row.box.x + cx * cell, row.box.y + cy * cell, cell, cell}}});
        ++counts.cells;
      }
    }
    ++counts.images;
  }
  write_json_atomic(out, root);
  return counts;
}

}  // namespace privprobe
