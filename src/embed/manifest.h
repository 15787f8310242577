// manifest.jsonl rows as JSON, and the journal that lets a killed `embed` run resume: each
// finished image appends its row to OUT/.embed_journal.jsonl (after its output file is in
// place), so a rerun knows which images are done without redoing them.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "embed/embed.h"

namespace privprobe {

inline constexpr const char* kManifestFile = "manifest.jsonl";
inline constexpr const char* kEmbedConfigFile = "embed_config.json";
inline constexpr const char* kEmbedJournalFile = ".embed_journal.jsonl";
inline constexpr const char* kEmbedImagesDir = "images";

// One manifest row: keys in sorted order; profile, box, font_size, style, error, source_sha256 and
// output are null when they do not apply.
nlohmann::json manifest_row_to_json(const ManifestRow& row);
// Throws DataError naming `where` for a missing field or a wrong type.
ManifestRow manifest_row_from_json(const nlohmann::json& value, const std::string& where);

// Appends rows to the journal, one line each, flushed at once (thread-safe).
class EmbedJournal {
 public:
  // Starts a new journal whose first line records config_hash (written atomically), or opens an
  // existing one for appending.
  EmbedJournal(const std::filesystem::path& path, const std::string& config_hash);
  void append(const ManifestRow& row);

 private:
  std::filesystem::path path_;
  std::ofstream stream_;
  std::mutex mutex_;
};

// The config hash recorded in an existing journal, or empty when there is none or its first line
// is unreadable.
std::string read_journal_config_hash(const std::filesystem::path& path);

// Rows of an existing journal by source (a later row for the same source wins). A truncated or
// unparsable last line (the run was killed while writing it) is ignored; a bad line elsewhere
// throws FormatError.
std::map<std::string, ManifestRow> read_journal_rows(const std::filesystem::path& path);

}  // namespace privprobe
