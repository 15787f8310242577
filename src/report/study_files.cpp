#include "report/study_files.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "embed/embed.h"
#include "image/image_file.h"
#include "io/half_float.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/paths.h"

namespace privprobe {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::optional<double> optional_number(const json& row, const char* key, const std::string& where) {
  const auto it = row.find(key);
  if (it == row.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) throw FormatError(error_message(where, std::string("'") + key + "' is not a number"));
  return it->get<double>();
}

long long required_step(const json& row, const std::string& where) {
  if (!row.is_object()) throw FormatError(error_message(where, "expected a JSON object"));
  const auto it = row.find("step");
  if (it == row.end() || !it->is_number_integer()) {
    throw FormatError(error_message(where, "missing or non-integer 'step'"));
  }
  return it->get<long long>();
}

std::optional<PartMeasure> part_measure(const json& value, const std::string& where) {
  if (value.is_null()) return std::nullopt;
  if (!value.is_object()) throw FormatError(error_message(where, "a part's measurements are not an object"));
  PartMeasure m;
  m.cos_batch_clean = optional_number(value, "cos_batch_clean", where);
  m.relative_change = optional_number(value, "relative_change", where);
  m.cos_wm_clean = optional_number(value, "cos_wm_clean", where);
  m.grad_norm = optional_number(value, "grad_norm", where);
  return m;
}

}  // namespace

std::optional<LossCurve> load_loss_curve(const fs::path& study, const std::string& model) {
  const fs::path path = resolve_under(study, "models/" + model + "/train_log.jsonl", "results.json model id");
  if (!file_exists(path)) return std::nullopt;
  LossCurve curve;
  for_each_jsonl(path, [&](std::size_t line, const json& row) {
    const std::string where = path.string() + ", line " + std::to_string(line);
    const long long step = required_step(row, where);
    const auto loss = optional_number(row, "loss", where);
    if (!loss) throw FormatError(error_message(where, "missing 'loss'"));
    curve.steps.push_back(step);
    curve.losses.push_back(*loss);
  });
  return curve;
}

std::optional<std::vector<DynamicsRow>> load_dynamics(const fs::path& study, const std::string& model) {
  const fs::path path = resolve_under(study, "models/" + model + "/dynamics.jsonl", "results.json model id");
  if (!file_exists(path)) return std::nullopt;
  std::vector<DynamicsRow> rows;
  for_each_jsonl(path, [&](std::size_t line, const json& row) {
    const std::string where = path.string() + ", line " + std::to_string(line);
    DynamicsRow r;
    r.step = required_step(row, where);
    r.wm_fraction = optional_number(row, "wm_fraction", where).value_or(0.0);
    if (const auto whole = row.find("whole"); whole != row.end()) r.whole = part_measure(*whole, where);
    if (const auto parts = row.find("parts"); parts != row.end() && !parts->is_null()) {
      if (!parts->is_object()) throw FormatError(error_message(where, "'parts' is not an object"));
      for (const auto& [name, value] : parts->items()) r.parts[name] = part_measure(value, where + ", part " + name);
    }
    rows.push_back(std::move(r));
  });
  return rows;
}

fs::path activation_path(const fs::path& study, const std::string& model) {
  return resolve_under(study, "acts/" + model + ".safetensors", "results.json model id");
}

LayerStates load_layer_states(const fs::path& path, int layer) {
  const SafetensorsFile file(path);
  const std::string where = path.string();
  const TensorInfo& states = file.at("states");
  if (states.shape.size() != 3 || states.shape[0] <= 0 || states.shape[1] <= 0 || states.shape[2] <= 0) {
    throw DataError(error_message(where, "tensor 'states' has shape " + format_shape(states.shape), "expected [N, L+1, D]"));
  }
  const std::int64_t n = states.shape[0], entries = states.shape[1], dim = states.shape[2];
  if (layer < 0 || layer >= entries) {
    throw DataError(error_message(where, "layer " + std::to_string(layer) + " is outside the file's " +
                                             std::to_string(entries) + " hidden-state entries"));
  }
  if (dim > (1 << 20)) throw DataError(error_message(where, "state width " + std::to_string(dim) + " is too large to plot"));
  const std::size_t element = dtype_size(states.dtype);
  const std::uint8_t* bytes = file.data(states).data;
  LayerStates out;
  out.states.create(static_cast<int>(n), static_cast<int>(dim), CV_32F);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t* row = bytes + static_cast<std::size_t>((i * entries + layer) * dim) * element;
    float* dst = out.states.ptr<float>(static_cast<int>(i));
    for (std::int64_t j = 0; j < dim; ++j) {
      const std::uint8_t* p = row + static_cast<std::size_t>(j) * element;
      float v = 0;
      switch (states.dtype) {  // memcpy: files from other writers may be unaligned
        case Dtype::F32: std::memcpy(&v, p, 4); break;
        case Dtype::F64: { double d; std::memcpy(&d, p, 8); v = static_cast<float>(d); break; }
        case Dtype::F16: { std::uint16_t h; std::memcpy(&h, p, 2); v = f16_to_f32(h); break; }
        case Dtype::BF16: { std::uint16_t h; std::memcpy(&h, p, 2); v = bf16_to_f32(h); break; }
        default:
          throw DataError(error_message(where, "tensor 'states' has dtype " + std::string(dtype_name(states.dtype)),
                                        "expected F32, F16, BF16 or F64"));
      }
      if (!std::isfinite(v)) {
        throw DataError(error_message(where, "states of sample " + std::to_string(i) + ", layer " +
                                                 std::to_string(layer) + " are not finite"));
      }
      dst[j] = v;
    }
  }

  const TensorInfo& labels = file.at("labels");
  if (labels.shape.size() != 1 || labels.shape[0] != n) {
    throw DataError(error_message(where, "tensor 'labels' has shape " + format_shape(labels.shape),
                                  "expected [" + std::to_string(n) + "]"));
  }
  const std::uint8_t* label_bytes = file.data(labels).data;
  const std::size_t label_size = dtype_size(labels.dtype);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t* p = label_bytes + static_cast<std::size_t>(i) * label_size;
    long long value = 0;
    switch (labels.dtype) {
      case Dtype::I64: case Dtype::U64: { std::int64_t v; std::memcpy(&v, p, 8); value = v; break; }
      case Dtype::I32: case Dtype::U32: { std::int32_t v; std::memcpy(&v, p, 4); value = v; break; }
      case Dtype::I16: case Dtype::U16: { std::int16_t v; std::memcpy(&v, p, 2); value = v; break; }
      case Dtype::I8: case Dtype::U8: case Dtype::BOOL: value = *p; break;
      default:
        throw DataError(error_message(where, "tensor 'labels' has dtype " + std::string(dtype_name(labels.dtype)),
                                      "expected an integer dtype"));
    }
    if (value != 0 && value != 1) {
      throw DataError(error_message(where, "labels[" + std::to_string(i) + "] is " + std::to_string(value),
                                    "labels must be 0 (unseen) or 1 (seen)"));
    }
    out.labels.push_back(static_cast<int>(value));
  }
  return out;
}

std::vector<WatermarkedSample> load_watermarked_samples(const fs::path& study, const std::string& preferred_arm,
                                                        std::size_t count, int max_side) {
  const fs::path embed_root = study / "data" / "embed";
  std::vector<std::string> arms;
  std::error_code ec;
  if (fs::is_directory(embed_root, ec)) {
    for (const auto& entry : fs::directory_iterator(embed_root, ec)) {
      if (entry.is_directory(ec) && file_exists(entry.path() / "manifest.jsonl")) arms.push_back(entry.path().filename().string());
    }
  }
  std::sort(arms.begin(), arms.end());
  const auto preferred = std::find(arms.begin(), arms.end(), preferred_arm);
  if (preferred != arms.end()) std::rotate(arms.begin(), preferred, preferred + 1);

  std::vector<WatermarkedSample> samples;
  for (const std::string& arm : arms) {
    const fs::path folder = embed_root / arm;
    for (const ManifestRow& row : load_manifest(folder / "manifest.jsonl")) {
      if (samples.size() >= count) break;
      if (row.profile.empty() || row.status != "ok" || row.output.empty()) continue;
      const fs::path image_path = resolve_under(folder, row.output, (folder / "manifest.jsonl").string());
      cv::Mat image = read_image(image_path);
      if (image.depth() != CV_8U) image.convertTo(image, CV_8U, 1.0 / 257.0);  // 16-bit PNG
      const int side = std::max(image.cols, image.rows);
      if (side > max_side) {
        const double scale = static_cast<double>(max_side) / side;
        cv::Mat small;
        cv::resize(image, small, cv::Size(std::max(1, static_cast<int>(std::lround(image.cols * scale))),
                                          std::max(1, static_cast<int>(std::lround(image.rows * scale)))),
                   0, 0, cv::INTER_AREA);
        image = small;
      }
      WatermarkedSample sample;
      sample.arm = arm;
      sample.output = row.output;
      sample.profile = row.profile;
      sample.width = image.cols;
      sample.height = image.rows;
      sample.png = encode_image(image, ImageFormat::kPng, image_path);
      samples.push_back(std::move(sample));
    }
    if (!samples.empty()) break;  // images of one arm only
  }
  return samples;
}

}  // namespace privprobe
