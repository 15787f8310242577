#include "util/paths.h"

#include <algorithm>
#include <cctype>

#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {

fs::path resolve_under(const fs::path& root, const std::string& relative, const std::string& source) {
  if (relative.empty()) throw DataError(error_message(source, "empty image path"));
  if (relative.find('\0') != std::string::npos) throw DataError(error_message(source, "image path contains a NUL byte"));
  const fs::path rel(relative);
  if (rel.is_absolute() || relative.front() == '/' || relative.front() == '\\') {
    throw DataError(error_message(source, "image path '" + relative + "' is absolute; paths must be relative to the image root"));
  }
  for (const auto& part : rel) {
    if (part == "..") {
      throw DataError(error_message(source, "image path '" + relative + "' contains '..' and could escape the image root"));
    }
  }
  return root / rel.lexically_normal();
}

std::string relative_to(const fs::path& path, const fs::path& root) {
  return path.lexically_relative(root).generic_string();
}

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  if (!ext.empty() && ext.front() == '.') ext.erase(0, 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::vector<std::string> list_images(const fs::path& root) {
  require_folder(root, "image folder");
  static const std::vector<std::string> kExtensions = {"jpg", "jpeg", "png", "webp", "bmp"};
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (name.find(kTempMarker) != std::string::npos) continue;
    const std::string ext = lower_extension(it->path());
    if (std::find(kExtensions.begin(), kExtensions.end(), ext) == kExtensions.end()) continue;
    out.push_back(relative_to(it->path(), root));
  }
  if (ec) throw IoError(error_message(root.string(), "cannot list folder: " + ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

void require_folder(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(error_message(path.string(), what + " does not exist"));
  if (!fs::is_directory(path, ec)) throw IoError(error_message(path.string(), what + " is not a folder"));
}

void require_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(error_message(path.string(), what + " does not exist"));
  if (fs::is_directory(path, ec)) throw IoError(error_message(path.string(), what + " is a folder, not a file"));
}

}  // namespace privprobe
