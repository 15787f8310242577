// Paths that come from untrusted input (dataset JSON, manifests) are relative to a root and must
// stay inside it. Relative paths are stored with '/' separators on every platform.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace privprobe {

// Joins root and an untrusted relative path, refusing absolute paths, empty paths and any '..'
// component, even one that would stay inside the root. `source` names where the path came from
// (e.g. "train.json, row 12") for the error. Throws DataError.
std::filesystem::path resolve_under(const std::filesystem::path& root, const std::string& relative,
                                    const std::string& source);

// path relative to root, with '/' separators. path must be inside root.
std::string relative_to(const std::filesystem::path& path, const std::filesystem::path& root);

// Image files under root (extensions jpg, jpeg, png, webp, bmp, case-insensitive), recursively,
// as sorted relative paths. Hidden files and our temporary files are skipped.
std::vector<std::string> list_images(const std::filesystem::path& root);

// Lower-case extension without the dot ("JPG" -> "jpg").
std::string lower_extension(const std::filesystem::path& path);

// Throws IoError unless path is an existing folder (or file, for require_file).
void require_folder(const std::filesystem::path& path, const std::string& what);
void require_file(const std::filesystem::path& path, const std::string& what);

}  // namespace privprobe
