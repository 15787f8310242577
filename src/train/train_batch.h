// Rows -> model inputs: images decoded (and augmented) now, sequences right-padded, and the per-patch
// targets of the auxiliary loss. Also the dynamics' pair of batches: as trained, and the same rows
// with each watermarked image replaced by its clean source under the identical augmentation.
// Legend: B rows, T longest sequence, N rows with an image, P patches per image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "model/image_processor.h"
#include "model/llava.h"
#include "model/llava_config.h"
#include "train/aux_objects.h"
#include "train/dynamics.h"
#include "train/train_data.h"

namespace privprobe {

struct BatchContext {
  const LlavaConfig* model = nullptr;
  const ImageProcessorConfig* processor = nullptr;
  const ObjectsIndex* objects = nullptr;  // null: no auxiliary targets
  bool augment = false;
  std::uint64_t seed = 0;
};

struct TrainBatch {
  LlavaBatch batch;
  torch::Tensor aux_labels;  // [N, P] int64, kIgnoreIndex for images objects.json does not describe
  int rows = 0;
  int watermarked = 0;
  std::int64_t tokens = 0;        // real (unpadded) tokens
  std::int64_t label_tokens = 0;  // tokens the loss is taken on
};

// Decodes, augments (seeded by step and row) and preprocesses the rows' images, pads their tokens.
// clean_sources: watermarked rows use their clean source. Throws the decoder's error naming the file.
TrainBatch collate_rows(const TrainDataset& data, const std::vector<std::size_t>& rows, std::int64_t step,
                        const BatchContext& context, bool clean_sources = false);

DynamicsInputs dynamics_inputs(const TrainDataset& data, const std::vector<std::size_t>& rows, std::int64_t step,
                               const BatchContext& context);

}  // namespace privprobe
