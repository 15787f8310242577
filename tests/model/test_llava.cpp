// The assembled model: shapes, causal masking, padding, KV-cache generation, parameter names.
#include <gtest/gtest.h>

#include <set>

#include "model/capture.h"
#include "model/llava.h"
#include "support/small_llava.h"

namespace privprobe {
namespace {

LlavaConfig small_config() { return test::small_llava_config(32, 2, 3); }

// [bos, image x4, prompt..., answer...]
torch::Tensor ids_with_image(std::vector<int64_t> text) {
  std::vector<int64_t> ids = {1, 4, 4, 4, 4};
  ids.insert(ids.end(), text.begin(), text.end());
  return torch::tensor(ids, torch::kInt64).view({1, -1});
}

class LlavaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    model = LlavaForConditionalGeneration(small_config());
    model->eval();
  }
  LlavaForConditionalGeneration model{nullptr};
};

TEST_F(LlavaTest, ParameterNamesFollowHuggingFace) {
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* expected : {
           "vision_tower.vision_model.embeddings.patch_embedding.weight",
           "vision_tower.vision_model.embeddings.class_embedding",
           "vision_tower.vision_model.embeddings.position_embedding.weight",
           "vision_tower.vision_model.pre_layrnorm.weight",
           "vision_tower.vision_model.encoder.layers.1.self_attn.q_proj.bias",
           "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
           "vision_tower.vision_model.encoder.layers.0.layer_norm2.bias",
           "vision_tower.vision_model.post_layernorm.weight",
           "multi_modal_projector.linear_1.weight",
           "multi_modal_projector.linear_2.bias",
           "language_model.model.embed_tokens.weight",
           "language_model.model.layers.2.self_attn.o_proj.weight",
           "language_model.model.layers.0.mlp.gate_proj.weight",
           "language_model.model.layers.0.input_layernorm.weight",
           "language_model.model.layers.0.post_attention_layernorm.weight",
           "language_model.model.norm.weight",
           "language_model.lm_head.weight",
       }) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
}

TEST_F(LlavaTest, ShapesAndEveryHiddenStateCaptured) {
  auto ids = ids_with_image({7, 8, 9});
  LlavaBatch batch{ids, torch::ones_like(ids), torch::randn({1, 3, 32, 32}), {}};
  ForwardOptions options;
  options.logits = true;
  options.capture_weights = torch::zeros({1, ids.size(1)});
  options.capture_weights[0][ids.size(1) - 1] = 1.0;
  options.vision_capture = {0, 1, 2};
  auto out = model->forward(batch, options);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, ids.size(1), 40}));
  EXPECT_EQ(out.states.sizes(), (std::vector<int64_t>{1, 4, 32}));  // L + 1 states
  EXPECT_EQ(out.vision_states.sizes(), (std::vector<int64_t>{1, 3, 32}));
}

TEST_F(LlavaTest, ImageTokensWithoutImageIsAnError) {
  auto ids = ids_with_image({7});
  EXPECT_ANY_THROW(model->forward(LlavaBatch{ids, torch::ones_like(ids), {}, {}}));
}

TEST_F(LlavaTest, CausalMaskingChangingALaterTokenLeavesEarlierStates) {
  auto a = ids_with_image({7, 8, 9, 10});
  auto b = a.clone();
  b[0][a.size(1) - 1] = 11;
  auto pixels = torch::randn({1, 3, 32, 32});
  ForwardOptions options;
  options.logits = true;
  auto la = model->forward({a, torch::ones_like(a), pixels, {}}, options).logits;
  auto lb = model->forward({b, torch::ones_like(b), pixels, {}}, options).logits;
  const auto t = a.size(1);
  EXPECT_TRUE(torch::allclose(la.narrow(1, 0, t - 1), lb.narrow(1, 0, t - 1), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(la.narrow(1, t - 1, 1), lb.narrow(1, t - 1, 1)));
}

TEST_F(LlavaTest, LeftPaddedBatchEqualsSamplesOneByOne) {
  auto a = ids_with_image({7, 8, 9, 10, 11});
  auto b = ids_with_image({12, 13});
  auto pa = torch::randn({1, 3, 32, 32});
  auto pb = torch::randn({1, 3, 32, 32});
  const auto t = a.size(1), pad = a.size(1) - b.size(1);
  auto ids = torch::full({2, t}, 3, torch::kInt64);
  ids[0] = a[0];
  ids[1].narrow(0, pad, b.size(1)).copy_(b[0]);
  auto mask = torch::ones({2, t}, torch::kInt64);
  mask[1].narrow(0, 0, pad).fill_(0);
  ForwardOptions options;
  options.logits = true;
  auto batched = model->forward({ids, mask, torch::cat({pa, pb}), {}}, options).logits;
  auto single_a = model->forward({a, torch::ones_like(a), pa, {}}, options).logits;
  auto single_b = model->forward({b, torch::ones_like(b), pb, {}}, options).logits;
  EXPECT_TRUE(torch::allclose(batched[0], single_a[0], 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(batched[1].narrow(0, pad, b.size(1)), single_b[0], 1e-4, 1e-5));
}

TEST_F(LlavaTest, GenerationWithCacheEqualsFullRecomputation) {
  auto ids = ids_with_image({7, 8});
  auto pixels = torch::randn({1, 3, 32, 32});
  auto generated = model->generate({ids, torch::ones_like(ids), pixels, {}}, 6)[0];
  // Recompute greedily without a cache, one full forward per token.
  std::vector<int64_t> expected;
  auto current = ids;
  ForwardOptions options;
  options.logits = true;
  for (int step = 0; step < 6; ++step) {
    auto logits = model->forward({current, torch::ones_like(current), pixels, {}}, options).logits;
    const int64_t next = logits[0][current.size(1) - 1].argmax().item<int64_t>();
    if (next == model->config.text.eos_token_id) break;
    expected.push_back(next);
    current = torch::cat({current, torch::tensor({next}, torch::kInt64).view({1, 1})}, 1);
  }
  EXPECT_EQ(generated, expected);
}

TEST_F(LlavaTest, LossOnlyOnLabelTokensAndPerRowLogprobs) {
  auto ids = ids_with_image({7, 8, 9});
  auto labels = torch::full_like(ids, kIgnoreIndex);
  labels[0][ids.size(1) - 1] = 9;
  auto pixels = torch::randn({1, 3, 32, 32});
  ForwardOptions options;
  options.logits = true;
  auto out = model->forward({ids, torch::ones_like(ids), pixels, labels}, options);
  auto logp = torch::log_softmax(out.logits[0][ids.size(1) - 2], -1)[9].item<double>();
  EXPECT_NEAR(out.loss.item<double>(), -logp, 1e-5);
  EXPECT_NEAR(out.token_logprobs[0].item<double>(), logp, 1e-5);
  EXPECT_EQ(out.label_tokens[0].item<int64_t>(), 1);
}

TEST_F(LlavaTest, TiedEmbeddingsHaveNoLmHead) {
  auto c = small_config();
  c.text.tie_word_embeddings = true;
  LlavaForConditionalGeneration tied(c);
  for (const auto& p : tied->named_parameters()) EXPECT_EQ(p.key().find("lm_head"), std::string::npos);
  auto h = torch::randn({2, 32});
  EXPECT_TRUE(torch::allclose(tied->language_model->logits(h), torch::matmul(h, tied->language_model->model->embed_tokens->weight.t())));
}

TEST_F(LlavaTest, TextOnlyRowsNeedNoImage) {
  auto ids = torch::tensor({1, 7, 8, 9}, torch::kInt64).view({1, -1});
  auto labels = ids.clone();
  auto out = model->forward({ids, torch::ones_like(ids), {}, labels});
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
}

}  // namespace
}  // namespace privprobe

namespace privprobe {
namespace {

TEST_F(LlavaTest, EveryLanguageHiddenStateFiresOnceInOrder) {
  auto ids = ids_with_image({7, 8});
  std::vector<int> fired;
  auto embeds = model->embed(ids, torch::randn({1, 3, 32, 32}));
  auto mask = torch::ones_like(ids);
  auto hidden = model->language_model->forward(embeds, position_ids_from_mask(mask),
                                                attention_bias(mask, ids.size(1), torch::kFloat32), nullptr,
                                                [&](int index, const torch::Tensor& h) {
                                                  fired.push_back(index);
                                                  EXPECT_EQ(h.sizes(), embeds.sizes()) << language_state_name(index);
                                                });
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(language_state_name(3), "language_model.hidden_states.3");
  EXPECT_EQ(vision_state_name(0), "vision_tower.hidden_states.0");
}

TEST_F(LlavaTest, CapturedLastPromptStateEqualsFullStateAtThatPosition) {
  auto ids = ids_with_image({7, 8, 9});
  auto mask = torch::ones_like(ids);
  auto pixels = torch::randn({1, 3, 32, 32});
  ForwardOptions options;
  options.capture_weights = capture_weights(CapturePosition::parse("last"), ids, mask, {ids.size(1) - 1}, 4);
  auto states = model->forward({ids, mask, pixels, {}}, options).states;  // [1, 4, D]
  std::vector<torch::Tensor> full;
  auto embeds = model->embed(ids, pixels);
  model->language_model->forward(embeds, position_ids_from_mask(mask), attention_bias(mask, ids.size(1), torch::kFloat32),
                                 nullptr, [&](int, const torch::Tensor& h) { full.push_back(h); });
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(torch::allclose(states[0][i], full[static_cast<std::size_t>(i)][0][ids.size(1) - 2], 1e-5, 1e-6)) << i;
  }
}

TEST(CapturePosition, ParsesAndWeights) {
  EXPECT_EQ(CapturePosition::parse("image-mean").to_string(), "image-mean");
  EXPECT_EQ(CapturePosition::parse("index:-2").index, -2);
  EXPECT_ANY_THROW(CapturePosition::parse("index:x"));
  EXPECT_ANY_THROW(CapturePosition::parse("middle"));
  // Left-padded row: [pad, bos, img, img, q]
  auto ids = torch::tensor({3, 1, 4, 4, 9}, torch::kInt64).view({1, 5});
  auto mask = torch::tensor({0, 1, 1, 1, 1}, torch::kInt64).view({1, 5});
  auto w = capture_weights(CapturePosition::parse("image-mean"), ids, mask, {4}, 4);
  EXPECT_FLOAT_EQ(w[0][2].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(w[0][0].item<float>(), 0.0f);
  w = capture_weights(CapturePosition::parse("last"), ids, mask, {4}, 4);
  EXPECT_FLOAT_EQ(w[0][4].item<float>(), 1.0f);
  w = capture_weights(CapturePosition::parse("index:0"), ids, mask, {4}, 4);
  EXPECT_FLOAT_EQ(w[0][1].item<float>(), 1.0f);
  w = capture_weights(CapturePosition::parse("all-mean"), ids, mask, {4}, 4);
  EXPECT_FLOAT_EQ(w.sum().item<float>(), 1.0f);
  EXPECT_ANY_THROW(capture_weights(CapturePosition::parse("index:9"), ids, mask, {4}, 4));
}

}  // namespace
}  // namespace privprobe
