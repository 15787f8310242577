// measure_dynamics on a small model: cases with known answers, agreement with gradients computed
// the plain way (whole batch forward and backward), frozen parts, untouched .grad and RNG, the
// CountSketch's hashing and inner products, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "train/dynamics.h"
#include "support/small_llava.h"
#include "train/lora.h"
#include "util/error.h"

namespace privprobe {
namespace {

LlavaConfig small_config() { return test::small_llava_config(16, 2, 2); }

struct RowSpec {
  std::vector<int64_t> prompt;
  std::vector<int64_t> answer;
  bool image = true;
};

// [bos, image x4 (if any), prompt, answer], right-padded with 0; labels on the answer only.
LlavaBatch make_batch(const std::vector<RowSpec>& rows, const torch::Tensor& images) {
  std::size_t longest = 0;
  std::vector<std::vector<int64_t>> ids(rows.size()), labels(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    ids[r] = {1};
    if (rows[r].image) ids[r].insert(ids[r].end(), {4, 4, 4, 4});
    ids[r].insert(ids[r].end(), rows[r].prompt.begin(), rows[r].prompt.end());
    labels[r].assign(ids[r].size(), kIgnoreIndex);
    ids[r].insert(ids[r].end(), rows[r].answer.begin(), rows[r].answer.end());
    labels[r].insert(labels[r].end(), rows[r].answer.begin(), rows[r].answer.end());
    longest = std::max(longest, ids[r].size());
  }
  const auto b = static_cast<int64_t>(rows.size()), t = static_cast<int64_t>(longest);
  LlavaBatch batch{torch::zeros({b, t}, torch::kInt64), torch::zeros({b, t}, torch::kInt64), images,
                   torch::full({b, t}, kIgnoreIndex, torch::kInt64)};
  for (int64_t r = 0; r < b; ++r) {
    const auto& row = ids[static_cast<std::size_t>(r)];
    for (std::size_t j = 0; j < row.size(); ++j) {
      batch.input_ids[r][static_cast<int64_t>(j)] = row[j];
      batch.attention_mask[r][static_cast<int64_t>(j)] = 1;
      batch.labels[r][static_cast<int64_t>(j)] = labels[static_cast<std::size_t>(r)][j];
    }
  }
  return batch;
}

// Four rows of different lengths (so padding is exercised), rows 1 and 3 watermarked.
std::vector<RowSpec> four_rows() {
  return {{{7, 8}, {9, 10, 2}}, {{11}, {12, 13}}, {{14, 15, 16}, {17, 2}}, {{18, 19}, {20, 21, 22, 2}}};
}

// Every trainable parameter's gradient of the batch's mean loss, flattened into one vector per
// part (and the whole model): the plain way, one forward and backward of the whole batch.
std::vector<torch::Tensor> plain_gradient(LlavaForConditionalGeneration& model, const LlavaBatch& batch) {
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  model->forward(batch, {}).loss.backward();
  std::vector<std::vector<torch::Tensor>> pieces(kModelParts.size() + 1);
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    auto g = item.value().grad().defined() ? item.value().grad().clone() : torch::zeros_like(item.value());
    for (std::size_t i = 0; i < kModelParts.size(); ++i) {
      if (item.key().rfind(kModelParts[i] + ".", 0) == 0) pieces[i].push_back(g.reshape({-1}).to(torch::kFloat64));
    }
    pieces.back().push_back(g.reshape({-1}).to(torch::kFloat64));
  }
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  std::vector<torch::Tensor> out;
  for (auto& p : pieces) out.push_back(p.empty() ? torch::Tensor() : torch::cat(p));
  return out;
}

double cos64(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.dot(b) / (a.norm() * b.norm())).item<double>();
}

class DynamicsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    model = LlavaForConditionalGeneration(small_config());
    model->train();
    images = torch::randn({4, 3, 32, 32});
    sources = torch::randn({4, 3, 32, 32});
  }

  // The batch with watermarked rows' images as given and clean rows' images shared.
  DynamicsInputs inputs_with(const torch::Tensor& clean_images, std::vector<bool> watermarked = {false, true, false, true}) {
    DynamicsInputs in;
    in.batch = make_batch(four_rows(), images);
    auto clean = images.clone();
    for (int64_t r = 0; r < 4; ++r) {
      if (watermarked[static_cast<std::size_t>(r)]) clean[r] = clean_images[r];
    }
    in.clean_batch = make_batch(four_rows(), clean);
    in.watermarked = std::move(watermarked);
    return in;
  }

  LlavaForConditionalGeneration model{nullptr};
  torch::Tensor images, sources;
  DynamicsConfig config;
};

TEST_F(DynamicsTest, WatermarkedImagesIdenticalToSourcesGiveCosineOneAndNoChange) {
  const DynamicsRow row = measure_dynamics(model, inputs_with(images), 5, config);
  EXPECT_EQ(row.step, 5);
  EXPECT_EQ(row.batch_size, 4);
  EXPECT_EQ(row.watermarked, 2);
  ASSERT_TRUE(row.whole.cos_batch_clean && row.whole.relative_change);
  EXPECT_NEAR(*row.whole.cos_batch_clean, 1.0, 1e-12);
  EXPECT_EQ(*row.whole.relative_change, 0.0);
  ASSERT_EQ(row.parts.size(), 3u);
  for (const auto& [name, part] : row.parts) {
    ASSERT_TRUE(part.cos_batch_clean && part.relative_change && part.grad_norm) << name;
    EXPECT_NEAR(*part.cos_batch_clean, 1.0, 1e-12) << name;
    EXPECT_EQ(*part.relative_change, 0.0) << name;
    EXPECT_GT(*part.grad_norm, 0.0) << name;
    EXPECT_TRUE(part.cos_wm_clean) << name;
  }
}

TEST_F(DynamicsTest, AgreesWithWholeBatchGradients) {
  const DynamicsInputs in = inputs_with(sources);
  const DynamicsRow row = measure_dynamics(model, in, 0, config);
  const auto g_b = plain_gradient(model, in.batch);
  const auto g_clean = plain_gradient(model, in.clean_batch);
  const auto rows = four_rows();
  const auto g_w = plain_gradient(model, make_batch({rows[1], rows[3]}, images.index_select(0, torch::tensor({1, 3}, torch::kInt64))));
  const auto g_c = plain_gradient(model, make_batch({rows[0], rows[2]}, images.index_select(0, torch::tensor({0, 2}, torch::kInt64))));

  EXPECT_NEAR(row.loss, model->forward(in.batch, {}).loss.item<double>(), 1e-5);
  std::vector<PartDynamics> measured;
  for (const auto& [name, part] : row.parts) measured.push_back(part);
  measured.push_back(row.whole);
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const PartDynamics& d = measured[i];
    ASSERT_TRUE(d.grad_norm && d.cos_batch_clean && d.relative_change && d.cos_wm_clean) << i;
    const double norm = g_b[i].norm().item<double>();
    EXPECT_NEAR(*d.grad_norm, norm, 1e-5 * norm) << i;
    EXPECT_NEAR(*d.cos_batch_clean, cos64(g_b[i], g_clean[i]), 1e-5) << i;
    EXPECT_NEAR(*d.relative_change, ((g_b[i] - g_clean[i]).norm() / g_b[i].norm()).item<double>(), 1e-5) << i;
    EXPECT_NEAR(*d.cos_wm_clean, cos64(g_w[i], g_c[i]), 1e-5) << i;
  }
  // Different images really do bend the update.
  EXPECT_LT(*row.whole.cos_batch_clean, 1.0 - 1e-6);
  EXPECT_GT(*row.whole.relative_change, 1e-4);
}

TEST_F(DynamicsTest, IdenticalWatermarkedAndCleanRowsGiveCosineOne) {
  const std::vector<RowSpec> rows = {{{7, 8}, {9, 10, 2}}, {{7, 8}, {9, 10, 2}}};
  auto image = torch::randn({1, 3, 32, 32});
  DynamicsInputs in;
  in.batch = make_batch(rows, torch::cat({image, image}));
  in.clean_batch = make_batch(rows, torch::cat({image, torch::randn({1, 3, 32, 32})}));
  in.watermarked = {true, false};
  const DynamicsRow row = measure_dynamics(model, in, 0, config);
  ASSERT_TRUE(row.whole.cos_wm_clean);
  EXPECT_NEAR(*row.whole.cos_wm_clean, 1.0, 1e-9);
  for (const auto& [name, part] : row.parts) EXPECT_NEAR(*part.cos_wm_clean, 1.0, 1e-9) << name;
}

TEST_F(DynamicsTest, OneSidedBatchesHaveNoWatermarkCleanCosine) {
  const DynamicsRow none = measure_dynamics(model, inputs_with(sources, {false, false, false, false}), 0, config);
  EXPECT_EQ(none.watermarked, 0);
  EXPECT_FALSE(none.whole.cos_wm_clean);
  EXPECT_NEAR(*none.whole.cos_batch_clean, 1.0, 1e-12);
  EXPECT_EQ(*none.whole.relative_change, 0.0);

  const DynamicsInputs in = inputs_with(sources, {true, true, true, true});
  const DynamicsRow all = measure_dynamics(model, in, 0, config);
  EXPECT_FALSE(all.whole.cos_wm_clean);
  const auto g_b = plain_gradient(model, in.batch);
  const auto g_clean = plain_gradient(model, in.clean_batch);
  EXPECT_NEAR(*all.whole.cos_batch_clean, cos64(g_b.back(), g_clean.back()), 1e-5);
}

TEST_F(DynamicsTest, FrozenPartIsNull) {
  for (auto& p : model->vision_tower->parameters()) p.set_requires_grad(false);
  const DynamicsRow row = measure_dynamics(model, inputs_with(sources), 3, config);
  EXPECT_EQ(row.parts[0].first, "vision_tower");
  EXPECT_FALSE(row.parts[0].second.grad_norm || row.parts[0].second.cos_batch_clean || row.parts[0].second.relative_change ||
               row.parts[0].second.cos_wm_clean);
  EXPECT_TRUE(row.parts[1].second.grad_norm && row.parts[2].second.grad_norm && row.whole.grad_norm);

  const nlohmann::json j = dynamics_row_to_json(row);
  EXPECT_TRUE(j["parts"]["vision_tower"].is_null());
  EXPECT_TRUE(j["parts"]["language_model"]["cos_batch_clean"].is_number());
  EXPECT_EQ(j["step"], 3);
  EXPECT_EQ(j["watermarked"], 2);
  EXPECT_DOUBLE_EQ(j["wm_fraction"].get<double>(), 0.5);
  EXPECT_EQ(j["sketch"].size(), static_cast<std::size_t>(config.sketch_size));
  EXPECT_EQ(j["sketch_seed"].get<uint64_t>(), config.sketch_seed);
  EXPECT_EQ(j["format_version"], 1);
  // The sketch survives the text round trip exactly, in its short form.
  const std::string line = j.dump();
  const auto back = nlohmann::json::parse(line)["sketch"];
  for (std::size_t k = 0; k < row.sketch.size(); ++k) ASSERT_EQ(static_cast<float>(back[k].get<double>()), row.sketch[k]) << k;
  EXPECT_LT(line.size(), 14u * row.sketch.size());
}

TEST_F(DynamicsTest, TextOnlyRowsAgreeWithWholeBatchGradients) {
  const std::vector<RowSpec> rows = {{{7, 8}, {9, 10, 2}}, {{11, 12, 13}, {14, 2}, /*image=*/false}, {{15}, {16, 17, 18, 2}}};
  DynamicsInputs in;
  in.batch = make_batch(rows, images.narrow(0, 0, 2));
  in.clean_batch = make_batch(rows, torch::cat({sources.narrow(0, 0, 1), images.narrow(0, 1, 1)}));
  in.watermarked = {true, false, false};
  const DynamicsRow row = measure_dynamics(model, in, 0, config);
  const auto g_b = plain_gradient(model, in.batch);
  const auto g_clean = plain_gradient(model, in.clean_batch);
  // One image on each side: autograd hands the class and position embeddings views of one
  // gradient buffer here, which the measurement must not update in place twice.
  for (std::size_t i = 0; i < 4; ++i) {
    const PartDynamics& d = i < 3 ? row.parts[i].second : row.whole;
    EXPECT_NEAR(*d.grad_norm, g_b[i].norm().item<double>(), 1e-5 * *d.grad_norm) << i;
    EXPECT_NEAR(*d.cos_batch_clean, cos64(g_b[i], g_clean[i]), 1e-5) << i;
  }
  EXPECT_TRUE(row.parts[0].second.cos_wm_clean);  // the clean side has an image row too
}

TEST_F(DynamicsTest, LeavesGradAndRngAsTheyWere) {
  // A half-finished training step: some gradients present, one parameter without any.
  model->forward(make_batch({four_rows()[0]}, images.narrow(0, 0, 1)), {}).loss.backward();
  auto untouched = model->language_model->model->norm->weight;
  untouched.mutable_grad() = torch::Tensor();
  std::vector<torch::Tensor> before_handles, before_values, params_before;
  for (auto& p : model->parameters()) {
    before_handles.push_back(p.grad());
    before_values.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    params_before.push_back(p.detach().clone());
  }
  torch::manual_seed(123);
  measure_dynamics(model, inputs_with(sources), 0, config);
  const auto after_measure = torch::rand({8});
  torch::manual_seed(123);
  EXPECT_TRUE(torch::equal(after_measure, torch::rand({8}))) << "the torch RNG moved";

  std::size_t i = 0;
  for (auto& p : model->parameters()) {
    ASSERT_EQ(p.grad().defined(), before_values[i].defined()) << i;
    if (p.grad().defined()) {
      EXPECT_TRUE(p.grad().is_same(before_handles[i])) << i;
      EXPECT_TRUE(torch::equal(p.grad(), before_values[i])) << i;
    }
    EXPECT_TRUE(torch::equal(p.detach(), params_before[i])) << i;
    ++i;
  }
}

TEST_F(DynamicsTest, DropoutMasksAgreeBetweenWatermarkedAndCleanPasses) {
  LoraConfig lora;
  lora.rank = 2;
  lora.dropout = 0.5;
  apply_lora(model, lora);
  freeze_all_but_lora(model, false);
  {
    torch::NoGradGuard no_grad;  // move B off zero so the adapters carry gradient to A
    for (auto& item : model->named_parameters()) {
      if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0, 0.1);
    }
  }
  const DynamicsRow row = measure_dynamics(model, inputs_with(images), 0, config);
  EXPECT_NEAR(*row.whole.cos_batch_clean, 1.0, 1e-12);
  EXPECT_EQ(*row.whole.relative_change, 0.0);
  EXPECT_FALSE(row.parts[0].second.grad_norm);  // vision tower frozen
  EXPECT_FALSE(row.parts[1].second.grad_norm);  // projector frozen
  EXPECT_GT(*row.parts[2].second.grad_norm, 0.0);
}

TEST_F(DynamicsTest, SixteenBitModelsWork) {
  model->to(torch::kBFloat16);
  DynamicsInputs in = inputs_with(images);
  in.batch.pixel_values = in.batch.pixel_values.to(torch::kBFloat16);
  in.clean_batch.pixel_values = in.clean_batch.pixel_values.to(torch::kBFloat16);
  const DynamicsRow same = measure_dynamics(model, in, 0, config);
  EXPECT_NEAR(*same.whole.cos_batch_clean, 1.0, 1e-12);
  EXPECT_EQ(*same.whole.relative_change, 0.0);
  in.clean_batch.pixel_values = inputs_with(sources).clean_batch.pixel_values.to(torch::kBFloat16);
  const DynamicsRow other = measure_dynamics(model, in, 0, config);
  EXPECT_LT(*other.whole.cos_batch_clean, 1.0);
  EXPECT_GT(*other.whole.relative_change, 0.0);
  for (auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST_F(DynamicsTest, SameGradientGivesTheSameSketchInTwoModels) {
  const DynamicsRow first = measure_dynamics(model, inputs_with(sources), 0, config);
  torch::manual_seed(0);
  LlavaForConditionalGeneration twin(small_config());
  twin->train();
  const DynamicsRow second = measure_dynamics(twin, inputs_with(sources), 0, config);
  EXPECT_EQ(first.sketch, second.sketch);
  ASSERT_EQ(first.sketch.size(), 4096u);

  // The sketch is of g_B: its inner product with itself approximates ||g_B||^2.
  double sq = 0;
  for (float v : first.sketch) sq += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(sq) / *first.whole.grad_norm, 1.0, 0.1);
}

TEST_F(DynamicsTest, BadInputIsRejected) {
  DynamicsInputs in = inputs_with(sources);
  in.watermarked.pop_back();
  EXPECT_THROW(measure_dynamics(model, in, 0, config), DataError);

  in = inputs_with(sources);
  in.clean_batch.input_ids = in.clean_batch.input_ids.clone();
  in.clean_batch.input_ids[0][6] = 30;
  EXPECT_THROW(measure_dynamics(model, in, 0, config), DataError);

  in = inputs_with(sources);
  in.batch.labels = torch::Tensor();
  EXPECT_THROW(measure_dynamics(model, in, 0, config), DataError);

  in = inputs_with(sources);
  in.batch.labels.fill_(kIgnoreIndex);
  in.clean_batch.labels.fill_(kIgnoreIndex);
  EXPECT_THROW(measure_dynamics(model, in, 0, config), DataError);

  in = inputs_with(sources);
  in.batch.pixel_values = in.batch.pixel_values.narrow(0, 0, 3);
  in.clean_batch.pixel_values = in.clean_batch.pixel_values.narrow(0, 0, 3);
  EXPECT_THROW(measure_dynamics(model, in, 0, config), DataError);

  DynamicsConfig bad;
  bad.sketch_size = 0;
  EXPECT_THROW(measure_dynamics(model, inputs_with(sources), 0, bad), ConfigError);

  for (auto& p : model->parameters()) p.set_requires_grad(false);
  EXPECT_THROW(measure_dynamics(model, inputs_with(sources), 0, config), DataError);
  // Nothing was left behind by the failed calls.
  for (auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}

// ---------------------------------------------------------------------------------------------
// CountSketch

TEST(CountSketch, HashingIsFixed) {
  // Pinned: these must never change, or sketches of old runs stop being comparable with new ones.
  // (Checked against an independent Python transcription of mix64 / fnv1a64.)
  const DynamicsConfig config;
  const std::vector<std::pair<int, int>> expected = {{856, -1}, {256, -1}, {2565, 1}, {56, -1}, {3669, 1}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const SketchCoordinate c = sketch_coordinate(i, config);
    EXPECT_EQ(c.bucket, expected[i].first) << i;
    EXPECT_EQ(c.sign, expected[i].second) << i;
  }
  DynamicsConfig other;
  other.sketch_seed = 1;
  int same = 0;
  for (uint64_t i = 0; i < 64; ++i) same += sketch_coordinate(i, config).bucket == sketch_coordinate(i, other).bucket;
  EXPECT_LT(same, 4);  // another seed is another hashing
}

TEST(CountSketch, VectorisedSketchEqualsTheDefinition) {
  DynamicsConfig config;
  config.sketch_size = 97;
  // Small integers: every sum is exact in float, so the comparison can be exact too.
  auto a = torch::arange(0, 300, torch::kFloat32).remainder(7).sub(3).reshape({20, 15});
  auto b = torch::arange(0, 50, torch::kFloat32).remainder(5).sub(2);
  const std::vector<float> sketch = count_sketch({a, b}, config);
  std::vector<double> expected(97, 0.0);
  auto flat = torch::cat({a.reshape({-1}), b});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const SketchCoordinate c = sketch_coordinate(static_cast<uint64_t>(i), config);
    expected[static_cast<std::size_t>(c.bucket)] += c.sign * flat[i].item<double>();
  }
  ASSERT_EQ(sketch.size(), 97u);
  for (std::size_t k = 0; k < 97; ++k) EXPECT_EQ(sketch[k], static_cast<float>(expected[k])) << k;
  // The same gradient split differently is the same concatenation, hence the same sketch.
  EXPECT_EQ(count_sketch({flat}, config), sketch);
  EXPECT_THROW(count_sketch({a, torch::Tensor()}, config), DataError);
}

TEST(CountSketch, InnerProductsArePreservedApproximately) {
  const DynamicsConfig config;  // 4096 buckets: standard error of a cosine about sqrt(2 / 4096) = 0.022
  torch::manual_seed(7);
  const int64_t n = 200000;
  auto base = torch::randn({n});
  for (double mix : {0.0, 0.5, 0.9}) {
    auto other = mix * base + std::sqrt(1 - mix * mix) * torch::randn({n});
    const auto sa = count_sketch({base}, config);
    const auto sb = count_sketch({other}, config);
    double dot = 0, na = 0, nb = 0;
    for (std::size_t k = 0; k < sa.size(); ++k) {
      dot += static_cast<double>(sa[k]) * sb[k];
      na += static_cast<double>(sa[k]) * sa[k];
      nb += static_cast<double>(sb[k]) * sb[k];
    }
    const double true_cos = (base.to(torch::kFloat64).dot(other.to(torch::kFloat64)) /
                             (base.to(torch::kFloat64).norm() * other.to(torch::kFloat64).norm())).item<double>();
    EXPECT_NEAR(dot / std::sqrt(na * nb), true_cos, 0.1) << mix;
    EXPECT_NEAR(std::sqrt(na) / base.norm().item<double>(), 1.0, 0.1) << mix;
  }
}

}  // namespace
}  // namespace privprobe
