#include "embed/manifest.h"

#include <cerrno>
#include <cstring>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

json string_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string optional_string(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_field(object, key, where);
  if (v.is_null()) return {};
  if (!v.is_string()) throw DataError(error_message(where, "field '" + key + "' must be a string or null"));
  return v.get<std::string>();
}

bool require_bool(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_field(object, key, where);
  if (!v.is_boolean()) throw DataError(error_message(where, "field '" + key + "' must be true or false"));
  return v.get<bool>();
}

int optional_int(const json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return 0;
  if (!it->is_number_integer()) throw DataError(error_message(where, "field '" + key + "' must be an integer or null"));
  return it->get<int>();
}

Box box_from_json(const json& v, const std::string& where) {
  if (v.is_null()) return {};
  if (!v.is_array() || v.size() != 4) throw DataError(error_message(where, "field 'box' must be [x, y, w, h] or null"));
  for (const auto& n : v) {
    if (!n.is_number_integer()) throw DataError(error_message(where, "field 'box' must hold integers"));
  }
  return Box{v[0].get<int>(), v[1].get<int>(), v[2].get<int>(), v[3].get<int>()};
}

}  // namespace

json manifest_row_to_json(const ManifestRow& row) {
  const bool marked = !row.profile.empty();
  json j = json::object();
  j["source"] = row.source;
  j["source_sha256"] = string_or_null(row.source_sha256);
  j["output"] = string_or_null(row.output);
  j["profile"] = string_or_null(row.profile);
  j["box"] = marked ? json::array({row.box.x, row.box.y, row.box.width, row.box.height}) : json(nullptr);
  j["font_size"] = marked && row.font_size > 0 ? json(row.font_size) : json(nullptr);
  j["identicon_cell"] = marked && row.identicon_cell > 0 ? json(row.identicon_cell) : json(nullptr);
  j["clipped"] = row.clipped;
  j["style"] = string_or_null(row.style);
  j["lossless"] = row.lossless;
  j["status"] = row.status;
  j["error"] = string_or_null(row.error);
  return j;
}

ManifestRow manifest_row_from_json(const json& value, const std::string& where) {
  if (!value.is_object()) throw DataError(error_message(where, "expected a JSON object"));
  ManifestRow row;
  row.source = require_string(value, "source", where);
  row.source_sha256 = optional_string(value, "source_sha256", where);
  row.output = optional_string(value, "output", where);
  row.profile = optional_string(value, "profile", where);
  row.box = box_from_json(require_field(value, "box", where), where);
  row.font_size = optional_int(value, "font_size", where);
  row.identicon_cell = optional_int(value, "identicon_cell", where);
  row.clipped = require_bool(value, "clipped", where);
  row.style = optional_string(value, "style", where);
  row.lossless = require_bool(value, "lossless", where);
  row.status = require_string(value, "status", where);
  if (row.status != "ok" && row.status != "skipped") {
    throw DataError(error_message(where, "field 'status' must be \"ok\" or \"skipped\", got \"" + row.status + "\""));
  }
  row.error = optional_string(value, "error", where);
  return row;
}

std::vector<ManifestRow> load_manifest(const fs::path& path) {
  std::vector<ManifestRow> rows;
  for_each_jsonl(path, [&](std::size_t line, const json& value) {
    rows.push_back(manifest_row_from_json(value, path.string() + ", line " + std::to_string(line)));
  });
  return rows;
}

EmbedJournal::EmbedJournal(const fs::path& path, const std::string& config_hash) : path_(path) {
  std::error_code ec;
  if (!fs::exists(path_, ec)) {
    json header = {{"config_hash", config_hash}, {"format_version", kFormatVersion}};
    write_file_atomic(path_, to_json_line(header) + "\n");
  } else {
    // Cut a half-written last line (killed run) so new rows start on a line of their own.
    const std::string text = read_file(path_);
    const std::size_t keep = text.rfind('\n') + 1;  // npos + 1 == 0: nothing complete
    if (keep != text.size()) fs::resize_file(path_, keep, ec);
    if (ec) throw IoError(error_message(path_.string(), "cannot repair resume journal: " + ec.message()));
  }
  stream_.open(path_, std::ios::binary | std::ios::app);
  if (!stream_) {
    throw IoError(error_message(path_.string(), std::string("cannot open for appending: ") + std::strerror(errno)));
  }
}

void EmbedJournal::append(const ManifestRow& row) {
  const std::string line = to_json_line(manifest_row_to_json(row)) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  stream_.write(line.data(), static_cast<std::streamsize>(line.size()));
  stream_.flush();
  if (!stream_) throw IoError(error_message(path_.string(), "write failed (disk full?)"));
}

std::string read_journal_config_hash(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first)) return {};
  try {
    const json header = json::parse(first);
    if (header.is_object() && header.contains("config_hash") && header["config_hash"].is_string()) {
      return header["config_hash"].get<std::string>();
    }
  } catch (const json::exception&) {
  }
  return {};
}

std::map<std::string, ManifestRow> read_journal_rows(const fs::path& path) {
  std::map<std::string, ManifestRow> rows;
  const std::string text = read_file(path);
  std::size_t pos = text.find('\n');  // the first line is the header
  std::size_t line_number = 1;
  while (pos != std::string::npos && pos + 1 < text.size()) {
    const std::size_t start = pos + 1;
    const std::size_t end = text.find('\n', start);
    ++line_number;
    const bool last = end == std::string::npos;
    const std::string where = path.string() + ", line " + std::to_string(line_number);
    try {
      const json value = json::parse(text.substr(start, last ? std::string::npos : end - start));
      ManifestRow row = manifest_row_from_json(value, where);
      rows[row.source] = std::move(row);
    } catch (const std::exception& e) {
      // A killed run can leave its last line half-written; anything else is damage.
      if (!last) throw FormatError(error_message(where, std::string("corrupt resume journal: ") + e.what(),
                                                 "delete the output folder and rerun"));
    }
    pos = end;
  }
  return rows;
}

}  // namespace privprobe
