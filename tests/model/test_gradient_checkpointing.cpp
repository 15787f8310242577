// Gradient checkpointing gives the gradients of the plain backward (to 1e-6), also with LoRA
// dropout (the rerun repeats the forward's draws), frozen inputs, autocast and autograd::grad;
// the autocast guard restores what it changed.
#include <gtest/gtest.h>

#include <map>

#include "model/autocast.h"
#include "model/gradient_checkpointing.h"
#include "model/llava.h"
#include "support/small_llava.h"

namespace privprobe {
namespace {

LlavaConfig small_config() { return test::small_llava_config(32, 2, 3); }

// Two right-padded rows: one with an image, one text-only; labels on the last tokens.
LlavaBatch training_batch(bool with_image) {
  LlavaBatch b;
  if (with_image) {
    b.input_ids = torch::tensor({1, 4, 4, 4, 4, 9, 10, 11, 12, 2, 1, 4, 4, 4, 4, 13, 14, 15, 2, 3}, torch::kInt64).view({2, 10});
    b.attention_mask = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, torch::kInt64).view({2, 10});
    torch::manual_seed(7);
    b.pixel_values = torch::randn({2, 3, 32, 32});
  } else {
    b.input_ids = torch::tensor({1, 9, 10, 11, 12, 2, 1, 13, 14, 15, 2, 3}, torch::kInt64).view({2, 6});
    b.attention_mask = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, torch::kInt64).view({2, 6});
  }
  b.labels = b.input_ids.masked_fill(b.attention_mask.eq(0), kIgnoreIndex);
  b.labels.narrow(1, 0, b.labels.size(1) / 2).fill_(kIgnoreIndex);
  return b;
}

struct StepResult {
  double loss = 0;
  std::map<std::string, torch::Tensor> grads;
};

StepResult train_step(LlavaForConditionalGeneration& model, const LlavaBatch& batch, bool checkpointing,
               const AutocastSettings& autocast = {}) {
  model->language_model->gradient_checkpointing = checkpointing;
  model->train();
  model->zero_grad();
  torch::manual_seed(123);  // dropout draws
  torch::Tensor loss;
  {
    AutocastGuard guard(torch::kCPU, autocast);
    loss = model->forward(batch).loss;
  }
  loss.backward();
  StepResult run{loss.item<double>(), {}};
  for (const auto& item : model->named_parameters()) {
    if (item.value().grad().defined()) run.grads[item.key()] = item.value().grad().clone();
  }
  return run;
}

void expect_same_gradients(const StepResult& plain, const StepResult& recomputed, double tolerance) {
  EXPECT_NEAR(plain.loss, recomputed.loss, tolerance);
  ASSERT_EQ(plain.grads.size(), recomputed.grads.size());
  ASSERT_FALSE(plain.grads.empty());
  for (const auto& [name, grad] : plain.grads) {
    ASSERT_TRUE(recomputed.grads.count(name)) << name;
    const double diff = (grad - recomputed.grads.at(name)).abs().max().item<double>();
    EXPECT_LE(diff, tolerance) << name;
  }
}

std::vector<LinearImpl*> language_linears(LlavaForConditionalGeneration& model) {
  std::vector<LinearImpl*> out;
  // The decoder's projections (lm_head's weight is used directly, never through forward).
  for (auto& module : model->language_model->model->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<LinearImpl>()) out.push_back(linear);
  }
  return out;
}

TEST(GradientCheckpointing, FullTrainingGradientsEqualThePlainBackward) {
  torch::manual_seed(0);
  auto model = LlavaForConditionalGeneration(small_config());
  const LlavaBatch batch = training_batch(/*with_image=*/true);
  const StepResult plain = train_step(model, batch, false);
  const StepResult recomputed = train_step(model, batch, true);
  expect_same_gradients(plain, recomputed, 1e-6);
  EXPECT_TRUE(plain.grads.count("language_model.model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(plain.grads.count("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"));
}

TEST(GradientCheckpointing, LoraWithDropoutAndFrozenInputsEqualsThePlainBackward) {
  torch::manual_seed(0);
  auto model = LlavaForConditionalGeneration(small_config());
  for (auto& p : model->parameters()) p.requires_grad_(false);
  for (LinearImpl* linear : language_linears(model)) linear->add_lora({/*rank=*/4, /*alpha=*/8, /*dropout=*/0.3});
  {
    // B starts at zero (the adapter is then a no-op with zero gradient for A): move it.
    torch::NoGradGuard no_grad;
    for (LinearImpl* linear : language_linears(model)) linear->lora_B->weight.normal_(0, 0.1);
  }
  // Text only: no input of any decoder layer needs a gradient, only the adapters inside.
  const LlavaBatch batch = training_batch(/*with_image=*/false);
  const StepResult plain = train_step(model, batch, false);
  const StepResult recomputed = train_step(model, batch, true);
  expect_same_gradients(plain, recomputed, 1e-6);
  EXPECT_EQ(plain.grads.size(), 2 * language_linears(model).size());
  // Dropout is on: another draw gives other gradients, so equality above means the same draws.
  model->language_model->gradient_checkpointing = false;
  model->zero_grad();
  torch::manual_seed(999);
  model->forward(batch).loss.backward();
  const auto& name = plain.grads.begin()->first;
  EXPECT_GT((model->named_parameters()[name].grad() - plain.grads.at(name)).abs().max().item<double>(), 1e-6);
}

TEST(GradientCheckpointing, RerunKeepsTheRandomStreamAndWorksWithAutogradGrad) {
  torch::manual_seed(0);
  auto model = LlavaForConditionalGeneration(small_config());
  for (LinearImpl* linear : language_linears(model)) linear->add_lora({4, 8, 0.3});
  const LlavaBatch batch = training_batch(true);
  model->train();
  std::vector<torch::Tensor> params;
  for (const auto& p : model->parameters()) params.push_back(p);

  auto grads_of = [&](bool checkpointing) {
    model->language_model->gradient_checkpointing = checkpointing;
    torch::manual_seed(5);
    auto loss = model->forward(batch).loss;
    auto grads = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    // The next draw after backward: the rerun must not have consumed or rewound the stream.
    return std::make_pair(grads, torch::rand({4}));
  };
  const auto [plain, plain_next] = grads_of(false);
  const auto [recomputed, recomputed_next] = grads_of(true);
  EXPECT_TRUE(torch::equal(plain_next, recomputed_next));
  ASSERT_EQ(plain.size(), recomputed.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    ASSERT_EQ(plain[i].defined(), recomputed[i].defined()) << i;
    if (plain[i].defined()) {
      EXPECT_LE((plain[i] - recomputed[i]).abs().max().item<double>(), 1e-6) << i;
    }
  }
}

TEST(GradientCheckpointing, Bf16AutocastOnCpuMatchesThePlainBackward) {
  torch::manual_seed(0);
  auto model = LlavaForConditionalGeneration(small_config());
  const LlavaBatch batch = training_batch(true);
  const AutocastSettings bf16{true, torch::kBFloat16};
  const StepResult plain = train_step(model, batch, false, bf16);
  const StepResult recomputed = train_step(model, batch, true, bf16);
  // The rerun computes in bf16 too (the forward's autocast settings are replayed).
  expect_same_gradients(plain, recomputed, 1e-6);
  const StepResult f32 = train_step(model, batch, false);
  EXPECT_NE(plain.loss, f32.loss);  // autocast did change the arithmetic
  EXPECT_NEAR(plain.loss, f32.loss, 0.05);
}

TEST(Autocast, GuardSetsAndRestoresTheSettings) {
  const AutocastSettings before = autocast_settings(torch::kCPU);
  EXPECT_FALSE(before.enabled);
  {
    AutocastGuard outer(torch::kCPU, {true, torch::kBFloat16});
    EXPECT_TRUE(autocast_settings(torch::kCPU).enabled);
    auto a = torch::randn({3, 4});
    EXPECT_EQ(torch::matmul(a, a.t()).scalar_type(), torch::kBFloat16);
    {
      AutocastGuard inner(torch::kCPU, {false, torch::kBFloat16});
      EXPECT_EQ(torch::matmul(a, a.t()).scalar_type(), torch::kFloat32);
    }
    EXPECT_TRUE(autocast_settings(torch::kCPU).enabled);
  }
  EXPECT_FALSE(autocast_settings(torch::kCPU).enabled);
  EXPECT_EQ(autocast_settings(torch::kCPU).dtype, before.dtype);
}

}  // namespace
}  // namespace privprobe
