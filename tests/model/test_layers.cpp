// Layers against their direct formulas on small inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "model/clip_vision.h"
#include "model/llama.h"

namespace privprobe {
namespace {

TEST(RmsNorm, MatchesFormula) {
  torch::manual_seed(0);
  RmsNorm norm(8, 1e-6);
  norm->weight.data().uniform_(0.5, 1.5);
  auto x = torch::randn({2, 3, 8});
  auto expected = x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6) * norm->weight;
  EXPECT_TRUE(torch::allclose(norm->forward(x), expected, 1e-5, 1e-6));
}

TEST(Rotary, RotatesPairsByPositionTimesFrequency) {
  const int hd = 4;
  const double theta = 10000.0;
  auto pos = torch::tensor({0, 1, 5}, torch::kInt64).view({1, 3});
  auto [cos, sin] = rotary_tables(pos, hd, theta, torch::kFloat32);
  auto x = torch::randn({1, 1, 3, hd});
  auto y = apply_rotary(x, cos, sin);
  // Hugging Face's rotate_half pairs dimension i with i + hd/2.
  for (int t = 0; t < 3; ++t) {
    const double p = pos[0][t].item<double>();
    for (int i = 0; i < hd / 2; ++i) {
      const double freq = 1.0 / std::pow(theta, 2.0 * i / hd);
      const double a = x[0][0][t][i].item<double>(), b = x[0][0][t][i + hd / 2].item<double>();
      const double c = std::cos(p * freq), s = std::sin(p * freq);
      EXPECT_NEAR(y[0][0][t][i].item<double>(), a * c - b * s, 1e-5);
      EXPECT_NEAR(y[0][0][t][i + hd / 2].item<double>(), b * c + a * s, 1e-5);
    }
  }
  // Rotation preserves the norm.
  EXPECT_TRUE(torch::allclose(y.norm(), x.norm(), 1e-5));
}

TEST(Attention, LlamaAttentionMatchesDirectFormulaWithGqa) {
  torch::manual_seed(1);
  TextConfig c;
  c.hidden_size = 16;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  LlamaAttention attn(c);
  const int64_t t = 5;
  auto x = torch::randn({1, t, 16});
  auto pos = torch::arange(t).view({1, t});
  auto [cos, sin] = rotary_tables(pos, 4, c.rope_theta, torch::kFloat32);
  auto bias = attention_bias(torch::ones({1, t}, torch::kInt64), t, torch::kFloat32);
  auto y = attn->forward(x, cos, sin, bias, nullptr, nullptr);

  auto q = apply_rotary(attn->q_proj->forward(x).view({1, t, 4, 4}).transpose(1, 2), cos, sin);
  auto k = apply_rotary(attn->k_proj->forward(x).view({1, t, 2, 4}).transpose(1, 2), cos, sin);
  auto v = attn->v_proj->forward(x).view({1, t, 2, 4}).transpose(1, 2);
  std::vector<torch::Tensor> heads;
  for (int h = 0; h < 4; ++h) {
    auto qh = q.select(1, h)[0];      // [T, Hd]
    auto kh = k.select(1, h / 2)[0];  // query heads 0,1 share kv head 0
    auto vh = v.select(1, h / 2)[0];
    auto s = torch::matmul(qh, kh.t()) / 2.0;  // sqrt(4)
    auto causal = torch::ones({t, t}).tril();
    s = s.masked_fill(causal.eq(0), -INFINITY);
    heads.push_back(torch::matmul(torch::softmax(s, -1), vh));
  }
  auto expected = attn->o_proj->forward(torch::cat(heads, -1).unsqueeze(0));
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
}

TEST(Attention, BiasBlocksFutureAndPadding) {
  auto mask = torch::tensor({0, 1, 1}, torch::kInt64).view({1, 3});
  auto bias = attention_bias(mask, 3, torch::kFloat32)[0][0];  // [T, K]
  EXPECT_LT(bias[1][0].item<float>(), -1e8);   // padding key
  EXPECT_EQ(bias[1][1].item<float>(), 0.0f);   // itself
  EXPECT_LT(bias[1][2].item<float>(), -1e8);   // future
  EXPECT_EQ(bias[2][1].item<float>(), 0.0f);
}

TEST(ClipVision, QuickGeluAndShapes) {
  VisionConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.image_size = 32;
  c.patch_size = 8;
  ClipVisionModel tower(c);
  auto out = tower->forward(torch::randn({2, 3, 32, 32}), -2, {0, 3});
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{2, 17, 32}));
  ASSERT_EQ(out.captured.size(), 2u);
  EXPECT_EQ(out.captured[1].sizes(), (std::vector<int64_t>{2, 32}));

  ClipMlp mlp(c);
  auto x = torch::randn({3, 32});
  auto h = mlp->fc1->forward(x);
  auto expected = mlp->fc2->forward(h * torch::sigmoid(1.702 * h));
  EXPECT_TRUE(torch::allclose(mlp->forward(x), expected, 1e-5, 1e-6));
}

TEST(ClipVision, FeatureLayerMinusTwoSkipsTheLastLayer) {
  VisionConfig c;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.image_size = 16;
  c.patch_size = 8;
  ClipVisionModel tower(c);
  auto pixels = torch::randn({1, 3, 16, 16});
  auto a = tower->forward(pixels, -2).features;
  auto b = tower->forward(pixels, 1).features;
  EXPECT_TRUE(torch::equal(a, b));
  auto embeddings = tower->vision_model->pre_layrnorm->forward(tower->vision_model->embeddings->forward(pixels));
  EXPECT_TRUE(torch::allclose(tower->forward(pixels, 0).features, embeddings));
}

// privprobe's optional convolutional stem (the tiny-reading config): two 3x3 stride-2 convolutions
// with GELU, then patches of patch_size / 4 over the smaller map, so the token grid is unchanged.
TEST(ClipVision, ConvStemEqualsItsFormulaAndKeepsTheTokenGrid) {
  VisionConfig c;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.image_size = 32;
  c.patch_size = 8;
  c.conv_stem = {4, 6};
  torch::manual_seed(5);
  ClipVisionModel tower(c);
  auto& embeddings = tower->vision_model->embeddings;
  const auto params = tower->named_parameters();
  EXPECT_EQ(params["vision_model.embeddings.conv_stem.0.weight"].sizes(), (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(params["vision_model.embeddings.conv_stem.1.bias"].sizes(), (std::vector<int64_t>{6}));
  EXPECT_EQ(params["vision_model.embeddings.patch_embedding.weight"].sizes(), (std::vector<int64_t>{16, 6, 2, 2}));

  const auto pixels = torch::randn({2, 3, 32, 32});
  EXPECT_EQ(tower->forward(pixels, -1).features.sizes(), (std::vector<int64_t>{2, 17, 16}));  // 16 patches + CLS
  namespace F = torch::nn::functional;
  auto conv = [&](const torch::Tensor& x, int i) {
    return torch::gelu(F::conv2d(x, params["vision_model.embeddings.conv_stem." + std::to_string(i) + ".weight"],
                                 F::Conv2dFuncOptions()
                                     .bias(params["vision_model.embeddings.conv_stem." + std::to_string(i) + ".bias"])
                                     .stride(2)
                                     .padding(1)));
  };
  const auto patches = F::conv2d(conv(conv(pixels, 0), 1), embeddings->patch_embedding->weight,
                                 F::Conv2dFuncOptions().stride(2));  // [2, 16, 4, 4]
  const auto expected = patches.flatten(2).transpose(1, 2) + embeddings->position_embedding->weight.narrow(0, 1, 16);
  EXPECT_TRUE(torch::allclose(embeddings->forward(pixels).narrow(1, 1, 16), expected, 1e-5, 1e-6));

  c.conv_stem.clear();  // CLIP: no stem parameters at all, so checkpoints keep their names
  ClipVisionModel clip(c);
  for (const auto& p : clip->named_parameters()) EXPECT_EQ(p.key().find("conv_stem"), std::string::npos) << p.key();
}

}  // namespace
}  // namespace privprobe
