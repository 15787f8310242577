#include "data/llava_json.h"

#include <algorithm>
#include <utility>

#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

// LLaVA samples nest four or five levels deep. Deeper documents are refused before anything is
// copied or written, because copying and serialising nlohmann::json recurse per level and an
// adversarial file of a few megabytes of brackets would overflow the stack.
constexpr std::size_t kMaxNesting = 100;

// Nesting depth of a parsed document, computed without recursion.
std::size_t nesting_depth(const json& document) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> pending = {{&document, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    deepest = std::max(deepest, depth);
    if (depth > kMaxNesting) break;
    if (node->is_structured()) {
      for (const json& child : *node) pending.emplace_back(&child, depth + 1);
    }
  }
  return deepest;
}

Turn parse_turn(const json& value, const std::string& where) {
  if (!value.is_object()) {
    throw DataError(error_message(where, std::string("a turn must be a JSON object, got ") + value.type_name()));
  }
  Turn turn;
  turn.from = require_string(value, "from", where);
  turn.value = require_string(value, "value", where);
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (it.key() != "from" && it.key() != "value") turn.extra[it.key()] = it.value();
  }
  return turn;
}

LlavaSample parse_sample(const json& value, std::size_t index, const std::string& where) {
  if (!value.is_object()) {
    throw DataError(error_message(where, std::string("a sample must be a JSON object, got ") + value.type_name()));
  }
  LlavaSample sample;
  if (auto it = value.find("id"); it == value.end()) {
    sample.id = std::to_string(index);
  } else if (it->is_string()) {
    sample.id = it->get<std::string>();
  } else if (it->is_number_integer()) {
    sample.id = it->dump();
    sample.extra["id"] = *it;  // remembers the integer type for writing back
  } else {
    throw DataError(error_message(where, std::string("field 'id' must be a string or an integer, got ") +
                                             it->type_name()));
  }

  if (auto it = value.find("image"); it != value.end()) {
    if (!it->is_string()) {
      throw DataError(error_message(where, std::string("field 'image' must be a string, got ") + it->type_name(),
                                    "leave the field out for a text-only sample"));
    }
    sample.image = it->get<std::string>();
  }

  const json& conversations = require_field(value, "conversations", where);
  if (!conversations.is_array()) {
    throw DataError(error_message(where, std::string("field 'conversations' must be an array, got ") +
                                             conversations.type_name()));
  }
  if (conversations.empty()) throw DataError(error_message(where, "field 'conversations' is empty"));
  sample.conversations.reserve(conversations.size());
  for (std::size_t t = 0; t < conversations.size(); ++t) {
    sample.conversations.push_back(parse_turn(conversations[t], where + ", turn " + std::to_string(t)));
  }

  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    if (key != "id" && key != "image" && key != "conversations") sample.extra[key] = it.value();
  }
  return sample;
}

}  // namespace

std::vector<LlavaSample> load_llava_json(const fs::path& path) {
  const json document = read_json(path);
  if (!document.is_array()) {
    throw FormatError(error_message(path.string(), std::string("expected a JSON array of samples, got ") +
                                                       document.type_name(),
                                    "LLaVA conversation files are a list of {id, image, conversations}"));
  }
  if (nesting_depth(document) > kMaxNesting) {
    throw FormatError(error_message(path.string(), "JSON nested more than " + std::to_string(kMaxNesting) + " levels deep"));
  }
  std::vector<LlavaSample> samples;
  samples.reserve(document.size());
  for (std::size_t i = 0; i < document.size(); ++i) {
    samples.push_back(parse_sample(document[i], i, path.string() + ", sample " + std::to_string(i)));
  }
  return samples;
}

json to_json(const LlavaSample& sample) {
  json out = sample.extra.is_object() ? sample.extra : json::object();
  // extra["id"] holds the original integer id; it is written back only while `id` still says the same.
  const auto kept_id = out.find("id");
  const bool integer_id_kept = kept_id != out.end() && kept_id->is_number_integer() && kept_id->dump() == sample.id;
  if (!integer_id_kept) out["id"] = sample.id;
  if (sample.image) {
    out["image"] = *sample.image;
  } else {
    out.erase("image");
  }
  json conversations = json::array();
  for (const Turn& turn : sample.conversations) {
    json t = turn.extra.is_object() ? turn.extra : json::object();
    t["from"] = turn.from;  // from and value win over same-named keys someone put in extra
    t["value"] = turn.value;
    conversations.push_back(std::move(t));
  }
  out["conversations"] = std::move(conversations);
  return out;
}

void write_llava_json(const fs::path& path, const std::vector<LlavaSample>& samples) {
  json document = json::array();
  for (const LlavaSample& sample : samples) document.push_back(to_json(sample));
  write_json_atomic(path, document);
}

}  // namespace privprobe
