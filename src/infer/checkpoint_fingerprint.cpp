#include "infer/checkpoint_fingerprint.h"

#include <algorithm>
#include <fstream>
#include <vector>

#include "io/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/sha256.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// The 8-byte length prefix and the JSON header of a safetensors file (not its data).
std::string safetensors_header_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char prefix[8] = {};
  if (!in.read(reinterpret_cast<char*>(prefix), 8)) throw IoError(error_message(path.string(), "cannot read the safetensors header"));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
  n = std::min<std::uint64_t>(n, kSafetensorsMaxHeaderBytes);
  std::string header(reinterpret_cast<char*>(prefix), 8);
  header.resize(8 + n);
  if (!in.read(header.data() + 8, static_cast<std::streamsize>(n))) {
    throw IoError(error_message(path.string(), "cannot read the safetensors header"));
  }
  return header;
}

}  // namespace

std::string checkpoint_fingerprint(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_regular_file(ec)) files.push_back(entry.path());
  }
  if (ec) throw IoError(error_message(folder.string(), "cannot list the checkpoint folder: " + ec.message()));
  std::sort(files.begin(), files.end());
  std::string digest_input;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    const std::string ext = file.extension().string();
    std::string content;
    if (ext == ".safetensors") {
      content = std::to_string(fs::file_size(file, ec)) + ":" + safetensors_header_bytes(file);
    } else if (ext == ".json" || name == "tokenizer.model") {
      content = read_file(file);
    } else {
      continue;
    }
    digest_input += name + "\n" + sha256_hex(content) + "\n";
  }
  return sha256_hex(digest_input);
}

}  // namespace privprobe
