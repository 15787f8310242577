// JSON parsing for untrusted headers and indexes. nlohmann's parser silently keeps the last of two
// equal keys, so a file could show one tensor to us and another to a different reader; this parser
// refuses duplicates instead. It also bounds nesting, because the safetensors header and the
// shard index are never deeper than a few levels and a deep document only costs time and stack.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace privprobe {

// Parses text as one JSON document, keeping object keys in file order. Throws FormatError
// "<where>: <reason>" when the text is not JSON, has a duplicate key in any object (naming the
// key and the objects around it) or nests deeper than max_depth arrays and objects.
nlohmann::ordered_json parse_json_strict(std::string_view text, const std::string& where, std::size_t max_depth);

}  // namespace privprobe
