#include "embed/embed_inputs.h"

#include <map>

#include "util/error.h"
#include "util/paths.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// Empty when the file is there; otherwise why not.
std::string missing_reason(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) return "image not found";
  if (fs::is_directory(status)) return "image path is a folder, not a file";
  if (!fs::is_regular_file(status)) return "image path is not a regular file";
  return {};
}

std::string sample_name(const fs::path& data, std::size_t index, const LlavaSample& sample) {
  return data.string() + ", sample " + std::to_string(index) + " (id '" + sample.id + "')";
}

EmbedInputs gather_from_data(const EmbedConfig& config) {
  EmbedInputs inputs;
  inputs.root = config.image_root;
  require_folder(config.image_root, "image root (--image-root)");
  inputs.samples = load_llava_json(config.data);
  inputs.sample_item.assign(inputs.samples.size(), -1);

  // Items are keyed by the normalised path, so "a/./b.jpg" and "a/b.jpg" are one image.
  std::map<std::string, EmbedItem> by_source;
  std::vector<std::string> sample_source(inputs.samples.size());
  for (std::size_t i = 0; i < inputs.samples.size(); ++i) {
    const LlavaSample& sample = inputs.samples[i];
    if (!sample.image) continue;
    const std::string where = sample_name(config.data, i, sample);
    EmbedItem item;
    try {
      item.path = resolve_under(config.image_root, *sample.image, where);
      item.source = fs::path(*sample.image).lexically_normal().generic_string();
    } catch (const DataError& e) {
      if (config.on_error == OnError::kFail) throw;
      item.source = *sample.image;
      item.path.clear();
      item.error = e.what();
    }
    sample_source[i] = item.source;
    if (by_source.count(item.source)) continue;
    if (item.error.empty()) {
      const std::string reason = missing_reason(item.path);
      if (!reason.empty()) {
        const std::string message =
            error_message(item.path.string(), reason, "referenced by " + where);
        if (config.on_error == OnError::kFail) throw IoError(message);
        item.error = message;
      }
    }
    by_source.emplace(item.source, std::move(item));
  }

  std::map<std::string, long> index_of;
  for (auto& [source, item] : by_source) {
    index_of[source] = static_cast<long>(inputs.items.size());
    inputs.items.push_back(std::move(item));
  }
  for (std::size_t i = 0; i < inputs.samples.size(); ++i) {
    if (inputs.samples[i].image) inputs.sample_item[i] = index_of.at(sample_source[i]);
  }
  return inputs;
}

EmbedInputs gather_from_folder(const EmbedConfig& config) {
  EmbedInputs inputs;
  inputs.root = config.images;
  for (const std::string& rel : list_images(config.images)) {
    EmbedItem item;
    item.source = rel;
    item.path = config.images / fs::path(rel);
    inputs.items.push_back(std::move(item));
  }
  return inputs;
}

}  // namespace

EmbedInputs gather_embed_inputs(const EmbedConfig& config) {
  return config.data.empty() ? gather_from_folder(config) : gather_from_data(config);
}

}  // namespace privprobe
