#include "report/report_fixtures.h"

#include <cmath>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "embed/manifest.h"
#include "image/image_file.h"
#include "io/safetensors_writer.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/json_io.h"
#include "util/rng.h"

namespace privprobe::test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct FakeModel {
  std::string id, arm, kind;
  json rate;
  json seed;
  double lift;  // probe accuracy above chance at the best layer
};

std::vector<FakeModel> fake_models(const FakeStudyOptions& options) {
  std::vector<FakeModel> models = {{"base", "base", "base", nullptr, nullptr, 0.02},
                                   {"r0.5-s0", "r0.5", "finetune", 0.5, 0, 0.12},
                                   {"r1-s0", "r1", "finetune", 1.0, 0, 0.03}};
  if (options.control) models.push_back({"control-s0", "control", "finetune", 0.5, 0, 0.3});
  return models;
}

json probe_block(double lift, double shift) {
  json layers = json::array();
  for (int layer = 0; layer < 3; ++layer) {
    const double accuracy = 0.5 + lift * layer / 2.0 + shift;
    layers.push_back({{"layer", layer}, {"accuracy", accuracy}, {"ci_low", accuracy - 0.05},
                      {"ci_high", accuracy + 0.05}, {"control", 0.49 + 0.01 * layer}, {"selectivity", accuracy - 0.5},
                      {"auc", accuracy}});
  }
  const double best = 0.5 + lift + shift;
  return {{"best_layer", 2}, {"accuracy", best}, {"ci_low", best - 0.05}, {"ci_high", best + 0.05}, {"control", 0.51},
          {"mean_selectivity", lift / 2}, {"layers", layers}};
}

json comparison(const std::string& name, const std::string& tuned, const std::string& base, double lift) {
  json layers = json::array();
  for (int layer = 0; layer < 3; ++layer) {
    const double d = lift * layer / 2.0;
    layers.push_back({{"layer", layer}, {"difference", d}, {"ci_low", d - 0.04}, {"ci_high", d + 0.04},
                      {"p_value", layer == 2 ? 0.01 : 0.5}, {"p_holm", layer == 2 ? 0.03 : 1.0}});
  }
  return {{"name", name}, {"base", base}, {"tuned", tuned}, {"group_by", "profile"}, {"best_layer", 2},
          {"difference", lift}, {"ci_low", lift - 0.04}, {"ci_high", lift + 0.04}, {"p_holm", 0.03},
          {"significant", lift > 0.04}, {"layers", layers}};
}

void write_jsonl(const fs::path& path, const std::vector<json>& rows) {
  std::string text;
  for (const json& row : rows) text += to_json_line(row) + "\n";
  write_text(path, text);
}

json part(double cos_batch, const json& cos_wm) {
  return {{"cos_batch_clean", cos_batch}, {"relative_change", 1 - cos_batch}, {"cos_wm_clean", cos_wm}, {"grad_norm", 2.5}};
}

void write_watermarked_images(const fs::path& dir) {
  const fs::path embed = dir / "data/embed/r0.5";
  std::vector<json> manifest;
  for (int i = 0; i < 3; ++i) {
    cv::Mat image(48, 64, CV_8UC3);
    for (int y = 0; y < image.rows; ++y) {
      for (int x = 0; x < image.cols; ++x) {
        image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(x * 4), static_cast<uchar>(y * 5), static_cast<uchar>(40 * i));
      }
    }
    const bool watermarked = i < 2;
    if (watermarked) cv::rectangle(image, cv::Rect(8 + 10 * i, 8, 20, 20), cv::Scalar(255, 255, 255), cv::FILLED);
    const std::string output = "images/img_" + std::to_string(i) + ".png";
    write_file_atomic(embed / output, encode_image(image, ImageFormat::kPng, embed / output));
    ManifestRow row;
    row.source = "img_" + std::to_string(i) + ".png";
    row.output = output;
    row.status = "ok";
    if (watermarked) {
      row.profile = "u1-00" + std::to_string(i);
      row.style = "identicon";
      row.identicon_cell = 4;
    }
    manifest.push_back(manifest_row_to_json(row));
  }
  write_jsonl(embed / "manifest.jsonl", manifest);
}

}  // namespace

std::vector<std::string> fake_model_ids(const FakeStudyOptions& options) {
  std::vector<std::string> ids;
  for (const FakeModel& m : fake_models(options)) ids.push_back(m.id);
  return ids;
}

json fake_results(const FakeStudyOptions& options) {
  json models = json::array();
  json arms = json::array();
  for (const FakeModel& m : fake_models(options)) {
    const bool base = m.kind == "base";
    json model = {{"id", m.id}, {"arm", m.arm}, {"kind", m.kind}, {"rate", m.rate},
                  {"realized_rate", m.rate.is_null() ? json(nullptr) : json(m.rate.get<double>() * 0.98)},
                  {"seed", m.seed}, {"train", {{"steps", base ? 20 : 10}, {"final_loss", 0.6}, {"seconds", nullptr}}},
                  {"probe", {{"profile", probe_block(m.lift, 0)}, {"image", probe_block(m.lift, 0.1)}}},
                  {"vs_base", base ? json(nullptr)
                                   : json{{"layer", 2}, {"difference", m.lift - 0.02}, {"ci_low", m.lift - 0.06},
                                          {"ci_high", m.lift + 0.02}, {"p_holm", 0.04}}},
                  {"ask", options.ask ? json{{"contains_rate", 0.0}, {"calibrated_accuracy", 0.52},
                                             {"calibrated_auc", 0.51}, {"uncalibrated_accuracy", 0.55},
                                             {"exposure_seen", 0.3}, {"exposure_unseen", 0.25}}
                                      : json(nullptr)},
                  {"eval", {{"accuracy", 0.7}, {"by_type", {{"count", 0.9}, {"color", 0.6}, {"shape", nullptr}}}}}};
    models.push_back(model);
    if (!base) {
      arms.push_back({{"arm", m.arm}, {"rate", m.rate}, {"models", {m.id}}, {"best_layer_accuracy_mean", 0.5 + m.lift},
                      {"best_layer_accuracy_sd", nullptr}, {"difference_to_base_mean", m.lift - 0.02},
                      {"vqa_accuracy_mean", 0.7}});
    }
  }
  json comparisons = json::array({comparison("r0.5 vs base", "r0.5-s0", "base", 0.1),
                                  comparison("r0.5 vs r1", "r0.5-s0", "r1-s0", 0.09)});
  if (options.control) comparisons.push_back(comparison("control vs base", "control-s0", "base", 0.28));
  return {{"format_version", 1},
          {"privprobe", "0.1.0 (git test)"},
          {"config", {{"rates", {0.5, 1.0}}}},
          {"style", "identicon"},
          {"style_note", "The tiny model cannot read text, so profiles are drawn as pictures."},
          {"perception", {{"layer", 3}, {"accuracy", 0.93}, {"ci_low", 0.9}, {"ci_high", 0.96}, {"control", 0.5},
                          {"what", "linear probe on the base's vision tower telling U1 from U2 pictures"}}},
          {"models", models},
          {"comparisons", comparisons},
          {"arms", arms},
          {"positive_control", options.control ? json{{"present", true}, {"detected", true}, {"model", "control-s0"},
                                                      {"criterion", "Holm p < 0.05 and interval above 0"}}
                                               : json{{"present", false}, {"detected", nullptr}}},
          {"findings", {{"r05_above_base", true}, {"r05_above_r1", true}, {"prompt_near_chance", true},
                        {"vqa_unchanged", true}, {"conclusion", "positive"},
                        {"summary", "r = 0.5 probes <above> the base & r = 1."}}}};
}

void write_fake_activations(const fs::path& path, int n, int layers, int dim, float separation) {
  Rng rng(static_cast<std::uint64_t>(n * 1000 + dim));
  std::vector<float> states(static_cast<std::size_t>(n) * layers * dim);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = i % 2 == 0 ? 1 : 0;
    for (int l = 0; l < layers; ++l) {
      for (int d = 0; d < dim; ++d) {
        float v = static_cast<float>(rng.normal());
        if (d == 0 && labels[static_cast<std::size_t>(i)] == 1) v += separation * static_cast<float>(l);
        states[(static_cast<std::size_t>(i) * layers + l) * dim + d] = v;
      }
    }
  }
  write_safetensors(path, {{"states", Dtype::F32, {n, layers, dim}, states.data(), states.size() * sizeof(float)},
                           {"labels", Dtype::I64, {n}, labels.data(), labels.size() * sizeof(std::int64_t)}});
}

void write_fake_study(const fs::path& dir, const FakeStudyOptions& options) {
  fs::create_directories(dir);
  write_json_atomic(dir / "results.json", fake_results(options));
  for (const FakeModel& m : fake_models(options)) {
    const bool base = m.kind == "base";
    if (options.train_logs) {
      std::vector<json> rows;
      for (int step = 1; step <= (base ? 20 : 10); ++step) {
        rows.push_back({{"step", step}, {"epoch", 0}, {"loss", 3.0 / step + 0.5}, {"lm_loss", 3.0 / step + 0.5},
                        {"aux_loss", nullptr}, {"lr", 1e-3}, {"grad_norm", 1.0}, {"rows", 8}, {"watermarked", 4},
                        {"tokens", 100}, {"label_tokens", 20}});
      }
      write_jsonl(dir / "models" / m.id / "train_log.jsonl", rows);
    }
    if (options.dynamics && !base) {
      std::vector<json> rows;
      const bool partial = m.arm != "r1";
      for (int step = 2; step <= 10; step += 2) {
        const json cos_wm = partial ? json(0.8 + 0.01 * step) : json(nullptr);
        rows.push_back({{"format_version", 1}, {"step", step}, {"batch_size", 8}, {"watermarked", partial ? 4 : 8},
                        {"wm_fraction", partial ? 0.5 : 1.0}, {"loss", 1.0},
                        {"whole", part(0.99 - 0.01 * step, cos_wm)},
                        {"parts", {{"vision_tower", nullptr}, {"multi_modal_projector", part(0.97, cos_wm)},
                                   {"language_model", part(0.995, cos_wm)}}},
                        {"sketch_size", 2}, {"sketch_seed", 1}, {"sketch", {0.1, -0.2}}});
      }
      write_jsonl(dir / "models" / m.id / "dynamics.jsonl", rows);
    }
    if (options.acts) {
      fs::create_directories(dir / "acts");
      write_fake_activations(dir / "acts" / (m.id + ".safetensors"), 16, 3, 5, static_cast<float>(m.lift * 10));
    }
  }
  if (options.images) write_watermarked_images(dir);
  if (options.toml) {
    write_text(dir / "study.toml", "# resolved configuration\nrates = [0.5, 1.0]\nnote = \"a < b & c\"\n");
  }
}

}  // namespace privprobe::test
