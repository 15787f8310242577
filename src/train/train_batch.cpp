#include "train/train_batch.h"

#include <algorithm>

#include "image/image_file.h"
#include "train/augment.h"
#include "util/error.h"

namespace privprobe {
namespace {

struct PreparedImage {
  torch::Tensor pixels;              // [3, S, S]
  std::vector<std::int64_t> labels;  // [P], empty without targets
};

PreparedImage prepare_image(const TrainRow& row, const std::filesystem::path& path, std::int64_t step,
                            const BatchContext& context) {
  const LlavaConfig& model = *context.model;
  cv::Mat image = read_image(path);
  const std::vector<ObjectBox>* objects = context.objects ? context.objects->find(row.image) : nullptr;
  cv::Mat label_map;
  if (objects) label_map = object_label_map(*context.objects, *objects, image.cols, image.rows);
  if (context.augment) {
    const AugmentParams params = draw_augment(context.seed, step, row.index);
    image = augment_image(image, params);
    if (objects) label_map = augment_labels(label_map, params);
  }
  PreparedImage out;
  try {
    out.pixels = preprocess_image(image, *context.processor);
  } catch (const DataError& e) {
    throw DataError(error_message(path.string(), e.what()));
  }
  if (objects) out.labels = patch_labels(label_map, model.vision.image_size, model.vision.patch_size);
  return out;
}

}  // namespace

TrainBatch collate_rows(const TrainDataset& data, const std::vector<std::size_t>& rows, std::int64_t step,
                        const BatchContext& context, bool clean_sources) {
  const LlavaConfig& model = *context.model;
  const int64_t pad_id = model.text.pad_token_id >= 0 ? model.text.pad_token_id : 0;
  const auto b = static_cast<int64_t>(rows.size());
  std::size_t longest = 0;
  for (std::size_t r : rows) longest = std::max(longest, data.rows.at(r).input_ids.size());
  const auto t = static_cast<int64_t>(longest);

  TrainBatch out;
  out.rows = static_cast<int>(b);
  auto ids = torch::full({b, t}, pad_id, torch::kInt64);            // [B, T]
  auto mask = torch::zeros({b, t}, torch::kInt64);                 // [B, T]
  auto labels = torch::full({b, t}, kIgnoreIndex, torch::kInt64);  // [B, T]
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  auto labels_a = labels.accessor<int64_t, 2>();
  std::vector<torch::Tensor> pixels;
  std::vector<torch::Tensor> aux;
  const int64_t patches = model.vision.num_patches();
  for (int64_t i = 0; i < b; ++i) {
    const TrainRow& row = data.rows.at(rows[static_cast<std::size_t>(i)]);
    for (std::size_t j = 0; j < row.input_ids.size(); ++j) {
      const auto jj = static_cast<int64_t>(j);
      ids_a[i][jj] = row.input_ids[j];
      mask_a[i][jj] = 1;
      labels_a[i][jj] = row.labels[j];
    }
    out.tokens += static_cast<int64_t>(row.input_ids.size());
    out.label_tokens += row.label_tokens;
    out.watermarked += row.watermarked ? 1 : 0;
    if (!row.has_image()) continue;
    const bool use_source = clean_sources && row.watermarked;
    if (use_source && row.clean_path.empty()) {
      throw DataError(error_message(row.image_path.string(), "the clean source of this watermarked image is unknown"));
    }
    PreparedImage image = prepare_image(row, use_source ? row.clean_path : row.image_path, step, context);
    pixels.push_back(image.pixels);
    if (context.objects) {
      aux.push_back(image.labels.empty() ? torch::full({patches}, kIgnoreIndex, torch::kInt64)
                                         : torch::tensor(image.labels, torch::kInt64));
    }
  }
  out.batch.input_ids = ids;
  out.batch.attention_mask = mask;
  out.batch.labels = labels;
  if (!pixels.empty()) out.batch.pixel_values = torch::stack(pixels);  // [N, 3, S, S]
  if (!aux.empty()) out.aux_labels = torch::stack(aux);                // [N, P]
  return out;
}

DynamicsInputs dynamics_inputs(const TrainDataset& data, const std::vector<std::size_t>& rows, std::int64_t step,
                               const BatchContext& context) {
  DynamicsInputs inputs;
  BatchContext plain = context;
  plain.objects = nullptr;  // the dynamics measure the language loss only
  inputs.batch = collate_rows(data, rows, step, plain).batch;
  inputs.clean_batch = collate_rows(data, rows, step, plain, /*clean_sources=*/true).batch;
  for (std::size_t r : rows) inputs.watermarked.push_back(data.rows.at(r).watermarked);
  return inputs;
}

}  // namespace privprobe
