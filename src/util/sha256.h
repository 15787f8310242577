// SHA-256 of files and buffers (OpenSSL's libcrypto), as lowercase hex.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace privprobe {

std::string sha256_hex(std::string_view data);
// Streams the file; throws IoError naming it.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace privprobe
