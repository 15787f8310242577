#include "train/train_data.h"

#include <exception>
#include <map>
#include <optional>

#include "image/image_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/paths.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

std::string sample_where(const fs::path& data, std::size_t index, const std::string& id) {
  return data.string() + ", sample " + std::to_string(index) + " (id '" + id + "')";
}

std::string canonical_key(const fs::path& path) { return fs::weakly_canonical(fs::absolute(path)).generic_string(); }

// What the manifest says about the data's images: by canonical output path.
struct ManifestIndex {
  fs::path path;
  fs::path source_root;  // empty when not found
  std::map<std::string, ManifestRow> by_output;
};

fs::path find_manifest(const TrainDataOptions& options) {
  if (options.manifest == "none") return {};
  if (!options.manifest.empty()) {
    require_file(options.manifest, "manifest");
    return options.manifest;
  }
  const fs::path beside = options.data.parent_path() / "manifest.jsonl";
  std::error_code ec;
  return fs::is_regular_file(beside, ec) ? beside : fs::path();
}

// The clean sources' root: --source-root, else the input root embed recorded (as given to embed:
// tried as written, then relative to the manifest's folder).
fs::path find_source_root(const TrainDataOptions& options, const fs::path& manifest) {
  std::error_code ec;
  if (!options.source_root.empty()) {
    require_folder(options.source_root, "--source-root");
    return options.source_root;
  }
  const fs::path embed_config = manifest.parent_path() / "embed_config.json";
  if (!fs::is_regular_file(embed_config, ec)) return {};
  const auto record = read_json(embed_config);
  const auto config = record.find("config");
  if (config == record.end() || !config->is_object() || !config->contains("image_root") || !(*config)["image_root"].is_string()) {
    return {};
  }
  const fs::path recorded = (*config)["image_root"].get<std::string>();
  if (fs::is_directory(recorded, ec)) return recorded;
  if (recorded.is_relative() && fs::is_directory(manifest.parent_path() / recorded, ec)) return manifest.parent_path() / recorded;
  return {};
}

ManifestIndex load_manifest_index(const TrainDataOptions& options) {
  ManifestIndex index;
  index.path = find_manifest(options);
  if (index.path.empty()) return index;
  const fs::path folder = index.path.parent_path();
  for (const ManifestRow& row : load_manifest(index.path)) {
    if (row.status != "ok" || row.output.empty()) continue;
    index.by_output.emplace(canonical_key(resolve_under(folder, row.output, index.path.string())), row);
  }
  if (index.by_output.empty()) throw DataError(error_message(index.path.string(), "the manifest lists no finished image"));
  index.source_root = find_source_root(options, index.path);
  return index;
}

// Tokenizes and checks one row, without touching its image file.
TrainRow tokenize_row(const LlavaSample& sample, std::size_t index, const TrainDataOptions& options,
                      const TrainTokenization& tok, const std::string& where) {
  TrainRow row;
  row.index = index;
  row.id = sample.id;
  bool has_answer = false;
  for (const Turn& turn : sample.conversations) has_answer = has_answer || turn.from == "gpt";
  if (!has_answer) throw DataError(error_message(where, "has no assistant (gpt) turn, so nothing to learn"));
  TokenizeOptions opts;
  opts.image_tokens = tok.image_tokens;
  opts.image_token_id = tok.image_token_id;
  opts.add_bos = tok.tokenizer->add_bos_token();
  TokenizedInputs tokens;
  try {
    tokens = tokenize_conversation(*tok.tokenizer, tok.chat, sample.conversations, opts, where);
  } catch (const DataError& e) {
    const std::string what = e.what();
    throw DataError(what.rfind(where, 0) == 0 ? what : error_message(where, what));
  }
  if (sample.image && tokens.images != 1) {
    throw DataError(error_message(where, "has an image but " + std::to_string(tokens.images) + " <image> placeholders",
                                  "an image row needs exactly one <image> in its text"));
  }
  if (!sample.image && tokens.images != 0) throw DataError(error_message(where, "has <image> in its text but no image"));
  if (static_cast<int>(tokens.input_ids.size()) > tok.max_length) {
    throw DataError(error_message(where, "is " + std::to_string(tokens.input_ids.size()) +
                                             " tokens long, beyond the model's max_position_embeddings " +
                                             std::to_string(tok.max_length)));
  }
  for (auto label : tokens.labels) row.label_tokens += label != -100 ? 1 : 0;
  row.input_ids = std::move(tokens.input_ids);
  row.labels = std::move(tokens.labels);
  if (sample.image) {
    row.image = *sample.image;
    row.image_path = resolve_under(options.image_root, row.image, where);
  }
  return row;
}

}  // namespace

std::size_t TrainDataset::watermarked() const {
  std::size_t n = 0;
  for (const auto& row : rows) n += row.watermarked ? 1 : 0;
  return n;
}

std::size_t TrainDataset::text_only() const {
  std::size_t n = 0;
  for (const auto& row : rows) n += row.has_image() ? 0 : 1;
  return n;
}

std::vector<bool> TrainDataset::watermark_flags() const {
  std::vector<bool> flags;
  for (const auto& row : rows) flags.push_back(row.watermarked);
  return flags;
}

TrainDataset load_train_dataset(const std::vector<LlavaSample>& samples, const TrainDataOptions& options,
                                const TrainTokenization& tokenization) {
  if (samples.empty()) throw DataError(error_message(options.data.string(), "holds no samples", "nothing to train on"));
  require_folder(options.image_root, "--image-root");
  TrainDataset dataset;
  const ManifestIndex manifest = load_manifest_index(options);
  dataset.manifest = manifest.path;
  dataset.source_root = manifest.source_root;

  // Pass 1 (serial, cheap): tokens and paths. Row errors are kept, not thrown yet, so that
  // skipping and failing report the same first error.
  std::vector<std::optional<TrainRow>> rows(samples.size());
  std::vector<std::string> errors(samples.size());
  std::vector<std::exception_ptr> exceptions(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const std::string where = sample_where(options.data, i, samples[i].id);
    try {
      rows[i] = tokenize_row(samples[i], i, options, tokenization, where);
    } catch (const Error& e) {
      errors[i] = e.what();
      exceptions[i] = std::current_exception();
    }
  }
  // Pass 2 (parallel): every image must exist and decode; the pixels are dropped again.
  parallel_for(samples.size(), options.jobs, [&](std::size_t i) {
    if (!rows[i] || !rows[i]->has_image()) return;
    const fs::path& path = rows[i]->image_path;
    const std::string where = sample_where(options.data, i, samples[i].id);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      errors[i] = error_message(where, "image file not found: " + path.string());
      exceptions[i] = std::make_exception_ptr(IoError(errors[i]));
      return;
    }
    try {
      (void)read_image(path);
    } catch (const Error& e) {
      errors[i] = error_message(where, std::string("image cannot be decoded: ") + e.what());
      exceptions[i] = std::make_exception_ptr(FormatError(errors[i]));
    }
  });

  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!errors[i].empty()) {
      if (options.on_error == OnError::kSkip) {
        dataset.skipped.push_back({i, samples[i].id, errors[i]});
        continue;
      }
      std::rethrow_exception(exceptions[i]);
    }
    TrainRow row = std::move(*rows[i]);
    if (!manifest.path.empty() && row.has_image()) {
      const std::string where = sample_where(options.data, i, row.id);
      const auto it = manifest.by_output.find(canonical_key(row.image_path));
      if (it == manifest.by_output.end()) {
        throw DataError(error_message(where, "image '" + row.image + "' is not an output of manifest " + manifest.path.string() +
                                                 ": the manifest does not match the data",
                                      "pass the embed output's manifest with --manifest, or --manifest none"));
      }
      row.watermarked = !it->second.profile.empty();
      if (row.watermarked && !manifest.source_root.empty()) {
        row.clean_path = resolve_under(manifest.source_root, it->second.source, manifest.path.string());
      }
      if (row.watermarked && options.need_sources) {
        std::error_code ec;
        if (row.clean_path.empty()) {
          throw ConfigError(error_message(manifest.path.string(), "the clean sources of watermarked images are not found",
                                          "pass --source-root (the folder embed read its input from)"));
        }
        if (!fs::is_regular_file(row.clean_path, ec)) {
          throw IoError(error_message(where, "clean source not found: " + row.clean_path.string(), "check --source-root"));
        }
      }
    }
    dataset.rows.push_back(std::move(row));
  }
  if (!dataset.skipped.empty()) {
    spdlog::warn("train: skipped {} of {} rows (first: {})", dataset.skipped.size(), samples.size(), dataset.skipped.front().reason);
  }
  if (dataset.rows.empty()) throw DataError(error_message(options.data.string(), "no usable rows remain", "see the skipped rows"));
  return dataset;
}

std::vector<std::string> tokenizer_corpus_lines(const std::vector<LlavaSample>& samples, const ChatTemplate& chat) {
  std::vector<std::string> lines;
  auto add = [&](const std::string& text) {
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!line.empty()) lines.push_back(line);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  };
  if (!chat.system.empty()) add(chat.system);
  for (const auto& sample : samples) {
    for (const auto& turn : sample.conversations) {
      add(turn.from == "human" ? chat.user_role + ": " + turn.value + " " + chat.assistant_role + ":" : turn.value);
    }
  }
  return lines;
}

}  // namespace privprobe
