#include "model/llava.h"

#include "util/error.h"

namespace privprobe {

torch::Tensor position_ids_from_mask(const torch::Tensor& attention_mask) {
  auto mask = attention_mask.to(torch::kInt64);
  return (mask.cumsum(1) - 1).clamp_min(0);  // [B, T]
}

LlavaForConditionalGenerationImpl::LlavaForConditionalGenerationImpl(const LlavaConfig& c) : config(c) {
  vision_tower = register_module("vision_tower", ClipVisionModel(c.vision));
  multi_modal_projector = register_module("multi_modal_projector", LlavaProjector(c));
  language_model = register_module("language_model", LlamaForCausalLm(c.text));
}

torch::Tensor LlavaForConditionalGenerationImpl::embed(const torch::Tensor& input_ids, const torch::Tensor& pixel_values,
                                                       torch::Tensor* image_features,
                                                       const std::vector<int>& vision_capture,
                                                       torch::Tensor* vision_states) {
  auto image_mask = input_ids.eq(config.image_token_index);  // [B, T]
  // The image token may lie outside the embedding table (llava-hf: 32000 in a 32064 table is
  // inside, but a tokenizer-added id need not be): look up a harmless id there instead.
  auto lookup_ids = input_ids.masked_fill(image_mask, 0).clamp(0, config.text.vocab_size - 1);
  auto embeds = language_model->model->embed_tokens->forward(lookup_ids);  // [B, T, D]
  const int64_t n_image_tokens = image_mask.sum().item<int64_t>();
  if (n_image_tokens == 0) return embeds;
  if (!pixel_values.defined()) {
    throw DataError(error_message("model input", "the prompt has image tokens but no image was given"));
  }
  VisionOutput vision = vision_tower->forward(pixel_values, config.vision_feature_layer, vision_capture);
  auto features = vision.features;  // [N, T_v, Dv]
  if (config.vision_feature_select_strategy == "default") features = features.narrow(1, 1, features.size(1) - 1);  // drop CLS
  if (image_features) *image_features = features;
  if (vision_states && !vision_capture.empty()) *vision_states = torch::stack(vision.captured, 1);  // [N, C, Dv]
  auto projected = multi_modal_projector->forward(features);  // [N, P, D]
  if (projected.size(0) * projected.size(1) != n_image_tokens) {
    throw DataError(error_message("model input", "image tokens (" + std::to_string(n_image_tokens) +
                                                     ") do not match image features (" +
                                                     std::to_string(projected.size(0) * projected.size(1)) + ")"));
  }
  // Image features fill the image positions in row-major order, as Hugging Face's masked_scatter.
  return embeds.masked_scatter(image_mask.unsqueeze(-1), projected.to(embeds.scalar_type()));
}

LlavaOutput LlavaForConditionalGenerationImpl::forward(const LlavaBatch& batch, const ForwardOptions& options) {
  LlavaOutput out;
  const auto& ids = batch.input_ids;
  auto mask = batch.attention_mask.defined() ? batch.attention_mask : torch::ones_like(ids);
  auto embeds = embed(ids, batch.pixel_values, options.keep_image_features ? &out.image_features : nullptr,
                      options.vision_capture, &out.vision_states);

  // Without padding a [1, 1, T, T] causal bias broadcasts over the batch.
  const bool padded = mask.min().item<int64_t>() == 0;
  auto bias = attention_bias(padded ? mask : mask.narrow(0, 0, 1), ids.size(1), embeds.scalar_type());
  auto positions = position_ids_from_mask(mask);

  std::vector<torch::Tensor> gathered;
  HiddenStateHook hook;
  if (options.capture_weights.defined()) {
    auto weights = options.capture_weights.to(embeds.scalar_type());  // [B, T]
    // By value: `weights` ends with this block, the hook runs later.
    hook = [&gathered, weights](int, const torch::Tensor& h) {
      gathered.push_back(torch::bmm(weights.unsqueeze(1), h).squeeze(1));  // [B, D]
    };
  }
  auto hidden = language_model->forward(embeds, positions, bias, nullptr, hook);  // [B, T, D]
  if (!gathered.empty()) out.states = torch::stack(gathered, 1);                   // [B, S, D]
  if (options.logits) out.logits = language_model->logits(hidden);

  if (batch.labels.defined()) {
    // Only positions whose next token is a label get logits: the vocabulary product is the
    // largest matrix in a small model, and image and prompt positions never need it.
    auto targets = batch.labels.narrow(1, 1, ids.size(1) - 1);          // [B, T-1]
    auto selected = targets.ne(kIgnoreIndex);                            // [B, T-1]
    auto rows = selected.nonzero().select(1, 0);                         // [M]
    auto h = hidden.narrow(1, 0, ids.size(1) - 1).index({selected});     // [M, D]
    auto logprobs = torch::log_softmax(language_model->logits(h).to(torch::kFloat32), -1);  // [M, V]
    auto token_lp = logprobs.gather(1, targets.index({selected}).unsqueeze(1)).squeeze(1);  // [M]
    const auto b = ids.size(0);
    out.token_logprobs = torch::zeros({b}, token_lp.options()).index_add(0, rows, token_lp);
    out.label_tokens = selected.sum(1);
    out.loss = token_lp.numel() ? -token_lp.mean() : torch::zeros({}, token_lp.options());
  }
  return out;
}

std::vector<std::vector<int64_t>> LlavaForConditionalGenerationImpl::generate(const LlavaBatch& batch, int max_new_tokens) {
  torch::NoGradGuard no_grad;
  const auto b = batch.input_ids.size(0);
  auto mask = batch.attention_mask.defined() ? batch.attention_mask.to(torch::kInt64)
                                             : torch::ones_like(batch.input_ids);
  auto embeds = embed(batch.input_ids, batch.pixel_values);
  KvCache cache;
  auto positions = position_ids_from_mask(mask);
  auto hidden = language_model->forward(embeds, positions, attention_bias(mask, mask.size(1), embeds.scalar_type()), &cache);
  auto next_pos = positions.select(1, positions.size(1) - 1) + 1;  // [B]

  std::vector<std::vector<int64_t>> out(static_cast<std::size_t>(b));
  std::vector<bool> done(static_cast<std::size_t>(b), false);
  auto last = hidden.select(1, hidden.size(1) - 1);  // [B, D]
  for (int step = 0; step < max_new_tokens; ++step) {
    auto next = language_model->logits(last).argmax(-1);  // [B]
    auto next_cpu = next.to(torch::kCPU);
    bool all_done = true;
    for (int64_t i = 0; i < b; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      if (done[ui]) continue;
      const int64_t token = next_cpu[i].item<int64_t>();
      if (token == config.text.eos_token_id) {
        done[ui] = true;
      } else {
        out[ui].push_back(token);
        all_done = false;
      }
    }
    if (all_done || step + 1 == max_new_tokens) break;
    mask = torch::cat({mask, torch::ones({b, 1}, mask.options())}, 1);
    auto step_embeds = language_model->model->embed_tokens->forward(next.unsqueeze(1));  // [B, 1, D]
    auto h = language_model->forward(step_embeds, next_pos.unsqueeze(1), attention_bias(mask, 1, embeds.scalar_type()), &cache);
    next_pos = next_pos + 1;
    last = h.select(1, 0);
  }
  return out;
}

}  // namespace privprobe
