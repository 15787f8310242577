// Partial mini-batch dynamics: the gradient passes of measure_dynamics (see dynamics.h for the
// definitions) and the float64 statistics per part. The CountSketch is in count_sketch.cpp.
#include "train/dynamics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <mutex>

#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

// Elements converted to float64 at a time: bounds the temporaries for 7B-sized tensors.
constexpr int64_t kChunk = int64_t{1} << 22;

// ---------------------------------------------------------------------------------------------
// Model state that the measurement must hand back untouched

// Moves every trainable parameter's .grad aside (no copy) and puts it back on destruction.
class GradStash {
 public:
  explicit GradStash(std::vector<torch::Tensor> params) : params_(std::move(params)) {
    for (auto& p : params_) {
      saved_.push_back(p.grad());
      p.mutable_grad() = torch::Tensor();
    }
  }
  ~GradStash() {
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].mutable_grad() = saved_[i];
  }
  GradStash(const GradStash&) = delete;
  GradStash& operator=(const GradStash&) = delete;

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> saved_;
};

// The default generators (CPU, and the model's CUDA device) as on entry: rewound before every pass
// so dropout draws the same masks for the same rows, and restored on destruction.
class RngRewind {
 public:
  explicit RngRewind(torch::Device device) {
    generators_.push_back(at::globalContext().defaultGenerator(torch::Device(torch::kCPU)));
    if (device.is_cuda()) generators_.push_back(at::globalContext().defaultGenerator(device));
    for (auto& g : generators_) {
      std::lock_guard<std::mutex> lock(g.mutex());
      states_.push_back(g.get_state());
    }
  }
  void rewind() {
    for (std::size_t i = 0; i < generators_.size(); ++i) {
      std::lock_guard<std::mutex> lock(generators_[i].mutex());
      generators_[i].set_state(states_[i]);
    }
  }
  ~RngRewind() { rewind(); }
  RngRewind(const RngRewind&) = delete;
  RngRewind& operator=(const RngRewind&) = delete;

 private:
  std::vector<at::Generator> generators_;
  std::vector<torch::Tensor> states_;
};

// ---------------------------------------------------------------------------------------------
// Sub-batches and gradient passes

// The batch restricted to `rows`, with the images of those rows, and without leading or trailing
// columns that are padding in every selected row.
LlavaBatch select_rows(const LlavaBatch& batch, const std::vector<int64_t>& rows, int64_t image_token) {
  const auto& ids = batch.input_ids;  // [B, T]
  auto index = torch::tensor(rows, torch::kInt64).to(ids.device());
  LlavaBatch out;
  out.input_ids = ids.index_select(0, index);
  out.labels = batch.labels.index_select(0, index);
  if (batch.attention_mask.defined()) out.attention_mask = batch.attention_mask.index_select(0, index);

  const auto per_row_tensor = ids.eq(image_token).sum(1).to(torch::kCPU);  // [B] image tokens per row
  const auto per_row = per_row_tensor.accessor<int64_t, 1>();
  const int64_t total = per_row_tensor.sum().item<int64_t>();
  if (total > 0) {
    const int64_t n_images = batch.pixel_values.defined() ? batch.pixel_values.size(0) : 0;
    if (n_images == 0 || total % n_images != 0) {
      throw DataError(error_message("dynamics batch", std::to_string(total) + " image tokens do not split evenly over " +
                                                         std::to_string(n_images) + " images"));
    }
    const int64_t tokens_per_image = total / n_images;
    std::vector<int64_t> first_image(static_cast<std::size_t>(ids.size(0)) + 1, 0);  // prefix sums
    for (int64_t r = 0; r < ids.size(0); ++r) {
      const int64_t count = per_row[r];
      if (count % tokens_per_image != 0) {
        throw DataError(error_message("dynamics batch, row " + std::to_string(r),
                                      std::to_string(count) + " image tokens is not a whole number of images"));
      }
      first_image[static_cast<std::size_t>(r) + 1] = first_image[static_cast<std::size_t>(r)] + count / tokens_per_image;
    }
    std::vector<int64_t> images;
    for (int64_t r : rows) {
      for (int64_t i = first_image[static_cast<std::size_t>(r)]; i < first_image[static_cast<std::size_t>(r) + 1]; ++i) {
        images.push_back(i);
      }
    }
    if (!images.empty()) {
      out.pixel_values =
          batch.pixel_values.index_select(0, torch::tensor(images, torch::kInt64).to(batch.pixel_values.device()));
    }
  }

  if (out.attention_mask.defined()) {
    const auto used_tensor = out.attention_mask.ne(0).any(0).to(torch::kCPU);  // [T] a real token somewhere
    const auto used = used_tensor.accessor<bool, 1>();
    const int64_t t = used_tensor.size(0);
    int64_t begin = 0, end = t;
    while (begin < t && !used[begin]) ++begin;
    while (end > begin && !used[end - 1]) --end;
    if (end > begin && (begin > 0 || end < t)) {
      out.input_ids = out.input_ids.narrow(1, begin, end - begin);
      out.labels = out.labels.narrow(1, begin, end - begin);
      out.attention_mask = out.attention_mask.narrow(1, begin, end - begin);
    }
  }
  return out;
}

struct Pass {
  int64_t tokens = 0;   // label tokens in the rows
  double loss_sum = 0;  // summed token losses
};

// Forward and backward of the rows' mean token loss; gradients accumulate into .grad.
Pass backward_rows(LlavaForConditionalGeneration& model, const LlavaBatch& batch, const std::vector<int64_t>& rows,
                   RngRewind& rng) {
  Pass pass;
  if (rows.empty()) return pass;
  const LlavaBatch sub = select_rows(batch, rows, model->config.image_token_index);
  rng.rewind();
  LlavaOutput out = model->forward(sub, {});
  pass.tokens = out.label_tokens.sum().item<int64_t>();
  if (pass.tokens == 0) return pass;
  out.loss.backward();
  pass.loss_sum = out.loss.item<double>() * static_cast<double>(pass.tokens);
  return pass;
}

struct Trainable {
  torch::Tensor param;
  int part = -1;        // index into kModelParts, -1 when outside them
  uint64_t offset = 0;  // global index of its first element (over all parameters)
};

// Takes the gradients out of .grad (zeros where a pass did not reach a parameter). Autograd may
// give two parameters views of one buffer (for a single image, the class embedding's gradient is
// row 0 of the position embedding's), so a gradient that shares its storage is copied: the
// in-place updates below must not reach another parameter's gradient.
std::vector<torch::Tensor> take_grads(const std::vector<Trainable>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& t : params) {
    auto param = t.param;
    auto g = param.grad();
    if (!g.defined()) {
      g = torch::zeros_like(param);
    } else if (g.storage().use_count() > 1 || g.storage().nbytes() != g.nbytes()) {
      g = g.clone();
    }
    grads.push_back(g);
    param.mutable_grad() = torch::Tensor();
  }
  return grads;
}

double dot64(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.reshape({-1});
  auto y = b.reshape({-1});
  auto acc = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(x.device()));
  for (int64_t start = 0; start < x.numel(); start += kChunk) {
    const int64_t len = std::min(kChunk, x.numel() - start);
    acc += torch::dot(x.narrow(0, start, len).to(torch::kFloat64), y.narrow(0, start, len).to(torch::kFloat64));
  }
  return acc.item<double>();
}

// Accumulated inner products, per part; slot kModelParts.size() is the whole model.
struct Sums {
  static constexpr std::size_t kWhole = 3;
  std::array<double, 4> ww{}, cc{}, wc{};     // g_W, g_C
  std::array<double, 4> bb{}, bbc{}, bcbc{};  // g_B, g_B_clean
  std::array<double, 4> dd{};                 // ||g_B - g_B_clean||^2
  std::array<bool, 4> trainable{};
  void add(std::array<double, 4>& field, int part, double value) {
    if (part >= 0) field[static_cast<std::size_t>(part)] += value;
    field[kWhole] += value;
  }
};

std::optional<double> cosine(double ab, double aa, double bb) {
  if (!(aa > 0) || !(bb > 0)) return std::nullopt;
  return std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0);
}

PartDynamics part_dynamics(const Sums& s, std::size_t i, bool have_wm_clean) {
  PartDynamics d;
  if (!s.trainable[i]) return d;
  d.grad_norm = std::sqrt(s.bb[i]);
  d.cos_batch_clean = cosine(s.bbc[i], s.bb[i], s.bcbc[i]);
  if (s.bb[i] > 0) d.relative_change = std::sqrt(s.dd[i]) / std::sqrt(s.bb[i]);
  if (have_wm_clean) d.cos_wm_clean = cosine(s.wc[i], s.ww[i], s.cc[i]);
  return d;
}

void check_inputs(const DynamicsInputs& inputs) {
  const auto& b = inputs.batch;
  const auto& c = inputs.clean_batch;
  if (!b.input_ids.defined() || b.input_ids.dim() != 2) throw DataError(error_message("dynamics batch", "input_ids must be [B, T]"));
  if (!b.labels.defined()) throw DataError(error_message("dynamics batch", "has no labels, so there is no loss to differentiate"));
  if (static_cast<int64_t>(inputs.watermarked.size()) != b.input_ids.size(0)) {
    throw DataError(error_message("dynamics batch", "watermarked flags (" + std::to_string(inputs.watermarked.size()) +
                                                       ") do not match the batch's rows (" + std::to_string(b.input_ids.size(0)) + ")"));
  }
  const bool same = c.input_ids.defined() && c.labels.defined() && torch::equal(c.input_ids, b.input_ids) &&
                    torch::equal(c.labels, b.labels) && c.pixel_values.defined() == b.pixel_values.defined() &&
                    (!b.pixel_values.defined() || c.pixel_values.sizes() == b.pixel_values.sizes());
  if (!same) {
    throw DataError(error_message("dynamics batch", "the clean batch differs from the batch in more than its images",
                                  "it must hold the same tokens and labels, with sources in place of watermarked images"));
  }
}

}  // namespace

DynamicsRow measure_dynamics(LlavaForConditionalGeneration& model, const DynamicsInputs& inputs, int64_t step,
                             const DynamicsConfig& config) {
  config.validate();
  check_inputs(inputs);

  std::vector<Trainable> params;
  std::vector<torch::Tensor> tensors;
  Sums sums;
  uint64_t offset = 0;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    const torch::Tensor& p = item.value();
    if (p.requires_grad()) {
      Trainable t{p, -1, offset};
      for (std::size_t i = 0; i < kModelParts.size(); ++i) {
        if (item.key().rfind(kModelParts[i] + ".", 0) == 0) t.part = static_cast<int>(i);
      }
      if (t.part >= 0) sums.trainable[static_cast<std::size_t>(t.part)] = true;
      sums.trainable[Sums::kWhole] = true;
      params.push_back(t);
      tensors.push_back(p);
    }
    offset += static_cast<uint64_t>(p.numel());
  }

  std::vector<int64_t> wm_rows, clean_rows;
  for (std::size_t r = 0; r < inputs.watermarked.size(); ++r) {
    (inputs.watermarked[r] ? wm_rows : clean_rows).push_back(static_cast<int64_t>(r));
  }
  DynamicsRow row;
  row.step = step;
  row.batch_size = static_cast<int>(inputs.watermarked.size());
  row.watermarked = static_cast<int>(wm_rows.size());
  if (params.empty()) throw DataError(error_message("dynamics", "no parameter requires grad, so there is no update to measure"));

  GradStash stash(tensors);
  RngRewind rng(tensors.front().device());
  torch::AutoGradMode grad_mode(true);

  // g_W (kept in `first`; empty when W has no label tokens), then g_C; their mix is g_B (`batch`).
  const Pass wm = backward_rows(model, inputs.batch, wm_rows, rng);
  std::vector<torch::Tensor> first;
  if (wm.tokens > 0) first = take_grads(params);
  const Pass clean = backward_rows(model, inputs.batch, clean_rows, rng);
  const int64_t n_b = wm.tokens + clean.tokens;
  if (n_b == 0) throw DataError(error_message("dynamics batch", "has no label tokens, so there is no loss to differentiate"));
  row.loss = (wm.loss_sum + clean.loss_sum) / static_cast<double>(n_b);
  const double a = static_cast<double>(wm.tokens) / static_cast<double>(n_b);
  const double b = static_cast<double>(clean.tokens) / static_cast<double>(n_b);
  const bool have_wm_clean = wm.tokens > 0 && clean.tokens > 0;

  std::vector<torch::Tensor> batch;
  {
    torch::NoGradGuard no_grad;
    if (clean.tokens == 0) {
      for (auto& g : first) batch.push_back(g.clone());  // g_B = g_W
    } else {
      batch = take_grads(params);  // g_C
      for (std::size_t k = 0; k < first.size(); ++k) {
        const int part = params[k].part;
        sums.add(sums.ww, part, dot64(first[k], first[k]));
        sums.add(sums.cc, part, dot64(batch[k], batch[k]));
        sums.add(sums.wc, part, dot64(first[k], batch[k]));
        batch[k].mul_(b).add_(first[k], a);  // g_B = a g_W + b g_C
      }
    }
  }

  // The W rows again with their clean images, accumulated onto -g_W: .grad = g_W_clean - g_W,
  // and g_B_clean = g_B + a (g_W_clean - g_W). Without W tokens, g_B_clean = g_B.
  if (!first.empty()) {
    {
      torch::NoGradGuard no_grad;
      for (std::size_t k = 0; k < params.size(); ++k) {
        auto param = params[k].param;
        param.mutable_grad() = first[k].neg_();
      }
    }
    backward_rows(model, inputs.clean_batch, wm_rows, rng);
    first = take_grads(params);
  }

  {
    torch::NoGradGuard no_grad;
    for (std::size_t k = 0; k < params.size(); ++k) {
      const int part = params[k].part;
      const double bb = dot64(batch[k], batch[k]);
      sums.add(sums.bb, part, bb);
      if (first.empty()) {
        sums.add(sums.bbc, part, bb);
        sums.add(sums.bcbc, part, bb);
        continue;
      }
      // With x = g_W_clean - g_W: g_B_clean = g_B + a x, expanded so no temporary in the
      // gradients' (possibly 16-bit) dtype is needed.
      const double bx = dot64(batch[k], first[k]);
      const double xx = dot64(first[k], first[k]);
      sums.add(sums.bbc, part, bb + a * bx);
      sums.add(sums.bcbc, part, bb + 2 * a * bx + a * a * xx);
      sums.add(sums.dd, part, a * a * xx);
    }
    first.clear();  // free g_W_clean - g_W before the sketch
    std::vector<std::pair<uint64_t, torch::Tensor>> placed;
    for (std::size_t k = 0; k < params.size(); ++k) placed.emplace_back(params[k].offset, batch[k]);
    row.sketch = count_sketch_at(placed, config);
    row.sketch_seed = config.sketch_seed;
  }

  row.whole = part_dynamics(sums, Sums::kWhole, have_wm_clean);
  for (std::size_t i = 0; i < kModelParts.size(); ++i) {
    row.parts.emplace_back(kModelParts[i], part_dynamics(sums, i, have_wm_clean));
  }
  return row;
}

nlohmann::json dynamics_row_to_json(const DynamicsRow& row) {
  auto optional_number = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  auto part_json = [&](const PartDynamics& d) {
    if (!d.grad_norm) return nlohmann::json(nullptr);  // frozen
    return nlohmann::json{{"cos_batch_clean", optional_number(d.cos_batch_clean)},
                          {"relative_change", optional_number(d.relative_change)},
                          {"cos_wm_clean", optional_number(d.cos_wm_clean)},
                          {"grad_norm", optional_number(d.grad_norm)}};
  };
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& [name, d] : row.parts) parts[name] = part_json(d);
  // Each bucket as the shortest decimal that reads back as the same float ("0.1", not the
  // double 0.10000000149011612): half the size of a row, and still exact.
  nlohmann::json sketch = nlohmann::json::array();
  char text[32];
  for (float v : row.sketch) {
    const auto end = std::to_chars(text, text + sizeof text, v).ptr;
    sketch.push_back(std::strtod(std::string(text, end).c_str(), nullptr));
  }
  return {{"format_version", kFormatVersion},
          {"step", row.step},
          {"batch_size", row.batch_size},
          {"watermarked", row.watermarked},
          {"wm_fraction", row.batch_size > 0 ? static_cast<double>(row.watermarked) / row.batch_size : 0.0},
          {"loss", row.loss},
          {"whole", part_json(row.whole)},
          {"parts", parts},
          {"sketch_size", row.sketch.size()},
          {"sketch_seed", row.sketch_seed},
          {"sketch", sketch}};
}

}  // namespace privprobe
