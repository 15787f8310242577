#include "probeset/activation_file.h"

#include <algorithm>
#include <map>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

// Keys that may differ between shards of one run: where the inputs were found, and the shard.
const char* const kPerShardKeys[] = {"checkpoint", "probeset", "shard", "samples"};

json run_identity(const json& header) {
  json identity = header;
  for (const char* key : kPerShardKeys) identity.erase(key);
  return identity;
}

std::string first_difference(const json& a, const json& b) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key()) || b[it.key()] != it.value()) return it.key();
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) return it.key();
  }
  return {};
}

struct Shard {
  fs::path path;
  fs::path metadata_path;
  SafetensorsFile file;
  json metadata;
  int index = 0;
  int count = 0;
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

std::int64_t shard_int(const json& shard, const char* key, const std::string& where) {
  const std::int64_t value = require_int(shard, key, where);
  if (value < 0) throw DataError(error_message(where, std::string("'shard.") + key + "' is negative"));
  return value;
}

Shard open_shard(const fs::path& path) {
  const fs::path metadata_path = activation_metadata_path(path);
  Shard s{path, metadata_path, SafetensorsFile(path), json(), 0, 0, 0, 0};
  std::error_code ec;
  if (!fs::is_regular_file(metadata_path, ec)) {
    throw IoError(error_message(metadata_path.string(), "metadata of " + path.string() + " not found",
                                "extract writes it beside the activations; keep the two together"));
  }
  s.metadata = read_json(metadata_path);
  const std::string where = metadata_path.string();
  if (!s.metadata.is_object()) throw FormatError(error_message(where, "activation metadata is a JSON object"));
  if (!s.metadata.contains("shard") || !s.metadata["shard"].is_object()) {
    throw DataError(error_message(where, "not a shard (no 'shard' entry)", "merge joins the outputs of extract --shard i/N"));
  }
  const json& shard = s.metadata["shard"];
  s.index = static_cast<int>(shard_int(shard, "index", where));
  s.count = static_cast<int>(shard_int(shard, "count", where));
  s.begin = shard_int(shard, "begin", where);
  s.end = shard_int(shard, "end", where);
  if (s.index < 1 || s.index > s.count || s.begin > s.end) {
    throw DataError(error_message(where, "malformed 'shard' entry"));
  }
  const json& samples = require_field(s.metadata, "samples", where);
  if (!samples.is_array() || static_cast<std::int64_t>(samples.size()) != s.end - s.begin) {
    throw DataError(error_message(where, "'samples' does not hold the shard's " + std::to_string(s.end - s.begin) + " samples"));
  }
  for (const TensorInfo& t : s.file.tensors()) {
    if (t.shape.empty() || t.shape[0] != s.end - s.begin) {
      throw DataError(error_message(path.string() + ", tensor '" + t.name + "'",
                                    "shape " + format_shape(t.shape) + " does not start with the shard's " +
                                        std::to_string(s.end - s.begin) + " samples"));
    }
  }
  return s;
}

// The same tensors (names, dtypes, per-sample shapes) in both files.
void check_same_tensors(const Shard& a, const Shard& b) {
  const std::string where = b.path.string();
  if (a.file.tensors().size() != b.file.tensors().size()) {
    throw DataError(error_message(where, "holds other tensors than " + a.path.string()));
  }
  for (const TensorInfo& t : a.file.tensors()) {
    const TensorInfo* u = b.file.find(t.name);
    if (!u) throw DataError(error_message(where, "has no tensor '" + t.name + "' (" + a.path.string() + " has)"));
    const std::vector<std::int64_t> tail_t(t.shape.begin() + 1, t.shape.end()), tail_u(u->shape.begin() + 1, u->shape.end());
    if (u->dtype != t.dtype || tail_t != tail_u) {
      throw DataError(error_message(where + ", tensor '" + t.name + "'", "dtype or per-sample shape differs from " + a.path.string()));
    }
  }
}

}  // namespace

ShardSpec ShardSpec::parse(const std::string& text) {
  ShardSpec spec;
  if (text.empty()) return spec;
  const auto fail = [&] {
    return ConfigError(error_message("--shard '" + text + "'", "expected i/N with 1 <= i <= N", "e.g. --shard 2/8 for the second of 8 slices"));
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) throw fail();
  const auto parse_int = [&](const std::string& part) {
    if (part.size() > 9 || part.find_first_not_of("0123456789") != std::string::npos) throw fail();
    return std::stoi(part);
  };
  spec.index = parse_int(text.substr(0, slash));
  spec.count = parse_int(text.substr(slash + 1));
  if (spec.count < 1 || spec.index < 1 || spec.index > spec.count) throw fail();
  return spec;
}

SampleRange shard_range(const ShardSpec& shard, std::int64_t samples, std::int64_t batch_size) {
  if (!shard.active()) return {0, samples};
  const std::int64_t batches = (samples + batch_size - 1) / batch_size;
  if (shard.count > batches) {
    throw ConfigError(error_message("--shard " + shard.to_string(),
                                    std::to_string(shard.count) + " shards for " + std::to_string(batches) + " batches of " +
                                        std::to_string(batch_size) + " samples: some shards would be empty",
                                    "use fewer shards or a smaller --batch-size"));
  }
  const std::int64_t k = shard.index - 1;
  const std::int64_t first = k * batches / shard.count, last = (k + 1) * batches / shard.count;
  return {first * batch_size, std::min(samples, last * batch_size)};
}

fs::path activation_metadata_path(const fs::path& activations) {
  fs::path p = activations;
  return p.replace_extension(".json");
}

ActivationMetadataWriter::ActivationMetadataWriter(const fs::path& path, const json& header) : file_(path) {
  std::string text = header.dump(2);  // "{\n  ...\n}" (or "{}")
  text.pop_back();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  file_.stream() << text << (header.empty() ? "\n  \"samples\": [" : ",\n  \"samples\": [");
}

void ActivationMetadataWriter::add_sample(const json& sample) {
  file_.stream() << (first_ ? "\n    " : ",\n    ") << sample.dump();
  first_ = false;
}

void ActivationMetadataWriter::finish() {
  file_.stream() << "\n  ]\n}\n";
  file_.commit();
}

MergeResult run_merge(const MergeConfig& config) {
  if (config.out.empty()) throw ConfigError(error_message("merge", "the output file is required"));
  if (config.shards.empty()) throw ConfigError(error_message("merge", "no shards given"));
  std::vector<Shard> shards;
  std::error_code ec;
  const fs::path out_canonical = fs::weakly_canonical(config.out, ec);
  for (const fs::path& path : config.shards) {
    if (fs::weakly_canonical(path, ec) == out_canonical) {
      throw ConfigError(error_message(path.string(), "is both a shard and the output"));
    }
    shards.push_back(open_shard(path));
  }
  std::sort(shards.begin(), shards.end(), [](const Shard& a, const Shard& b) { return a.index < b.index; });

  const Shard& first = shards.front();
  const json identity = run_identity(first.metadata);
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const Shard& s = shards[i];
    const std::string where = s.metadata_path.string();
    if (i > 0) {
      const std::string key = first_difference(identity, run_identity(s.metadata));
      if (!key.empty()) {
        throw DataError(error_message(where, "not a shard of the same run as " + first.metadata_path.string() + " ('" + key + "' differs)"));
      }
      check_same_tensors(first, s);
      if (s.index == shards[i - 1].index) {
        throw DataError(error_message(where, "shard " + s.metadata["shard"]["index"].dump() + " is given twice (also " +
                                                 shards[i - 1].path.string() + ")"));
      }
    }
    if (s.count != static_cast<int>(shards.size())) {
      throw DataError(error_message(where, "is shard " + std::to_string(s.index) + " of " + std::to_string(s.count) + ", but " +
                                               std::to_string(shards.size()) + " shards were given",
                                    "give every shard of the run, once"));
    }
    const std::int64_t expected_begin = i == 0 ? 0 : shards[i - 1].end;
    if (s.index != static_cast<int>(i) + 1 || s.begin != expected_begin) {
      throw DataError(error_message(where, "shard " + std::to_string(s.index) + " starts at sample " + std::to_string(s.begin) +
                                               ", not where the previous shard ends (" + std::to_string(expected_begin) + ")"));
    }
  }
  const std::int64_t total = shards.back().end;
  if (first.metadata.contains("samples_total") && first.metadata["samples_total"] != total) {
    throw DataError(error_message(shards.back().metadata_path.string(), "the shards cover " + std::to_string(total) +
                                                                            " samples, the run has " +
                                                                            first.metadata["samples_total"].dump()));
  }

  std::vector<TensorSpec> specs;
  for (const TensorInfo& t : first.file.tensors()) {
    std::vector<std::int64_t> shape = t.shape;
    shape[0] = total;
    specs.push_back({t.name, t.dtype, shape});
  }
  SafetensorsStreamWriter writer(config.out, specs, first.file.metadata());
  for (const TensorInfo& t : writer.layout()) {
    for (const Shard& s : shards) {
      const ByteView bytes = s.file.data(t.name);
      writer.append(t.name, bytes.data, bytes.size);
    }
  }
  writer.finish();

  json header = first.metadata;
  header.erase("shard");
  header.erase("samples");
  ActivationMetadataWriter metadata(activation_metadata_path(config.out), header);
  for (const Shard& s : shards) {
    for (const json& sample : s.metadata["samples"]) metadata.add_sample(sample);
  }
  metadata.finish();
  return {total, shards.size()};
}

}  // namespace privprobe
