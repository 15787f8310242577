// Conversation templates and image preprocessing.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "model/chat_template.h"
#include "model/image_processor.h"
#include "support/test_support.h"
#include "text/sentencepiece_model.h"
#include "util/error.h"

namespace privprobe {
namespace {

SentencePieceTokenizer make_tokenizer() {
  BpeModelSpec spec;
  const std::string sp = "\xE2\x96\x81";
  for (std::string p : {sp, std::string("A"), std::string("S"), std::string("I"), std::string("T"), std::string("N"),
                        std::string("U"), std::string("E"), std::string("R"), std::string(":"), std::string("r"),
                        std::string("e"), std::string("d"), std::string("?")}) {
    spec.pieces.emplace_back(p, 0.0f);
  }
  return SentencePieceTokenizer(build_bpe_model(spec), "test");
}

TEST(ChatTemplate, LabelsOnlyOnAnswerAndEos) {
  auto tok = make_tokenizer();
  TokenizeOptions options;
  options.image_tokens = 3;
  options.image_token_id = 4;
  auto out = tokenize_conversation(tok, chat_template("tiny"), {{"human", "<image>\nred?"}, {"gpt", "red"}}, options, "t");
  ASSERT_EQ(out.input_ids.size(), out.labels.size());
  EXPECT_EQ(out.input_ids.front(), tok.bos_id());
  EXPECT_EQ(out.images, 1);
  int image_count = 0;
  for (auto id : out.input_ids) image_count += id == 4;
  EXPECT_EQ(image_count, 3);
  // The labelled tokens decode to the answer, followed by eos.
  std::vector<int> answer;
  for (std::size_t i = 0; i < out.labels.size(); ++i) {
    if (out.labels[i] != -100) {
      EXPECT_EQ(out.labels[i], out.input_ids[i]);
      answer.push_back(static_cast<int>(out.labels[i]));
    }
    if (i < out.prompt_length) {
      EXPECT_EQ(out.labels[i], -100) << i;
    }
  }
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(answer.back(), tok.eos_id());
  answer.pop_back();
  EXPECT_EQ(tok.decode(answer), "red");
  EXPECT_EQ(out.prompt_text, "USER: <image>\nred? ASSISTANT: red</s>");
}

TEST(ChatTemplate, GenerationPromptEndsAtAssistant) {
  auto tok = make_tokenizer();
  TokenizeOptions options;
  options.image_tokens = 2;
  options.image_token_id = 4;
  options.generation_prompt = true;
  auto out = tokenize_question(tok, chat_template("tiny"), "red?", "red", true, options);
  EXPECT_EQ(out.prompt_length, out.input_ids.size());
  for (auto l : out.labels) EXPECT_EQ(l, -100);
  EXPECT_EQ(out.prompt_text, "USER: <image>\nred? ASSISTANT:");
}

TEST(ChatTemplate, VicunaHasSystemPromptAndBadTurnsAreRefused) {
  auto tok = make_tokenizer();
  TokenizeOptions options;
  auto out = tokenize_conversation(tok, chat_template("vicuna_v1"), {{"human", "q"}, {"gpt", "a"}}, options, "t");
  EXPECT_EQ(out.prompt_text.rfind("A chat between a curious user", 0), 0u);
  EXPECT_THROW(tokenize_conversation(tok, chat_template("tiny"), {{"gpt", "a"}}, options, "x.json, sample 3"), DataError);
  EXPECT_THROW(tokenize_conversation(tok, chat_template("tiny"), {{"human", "q"}, {"human", "q"}}, options, "x"), DataError);
  EXPECT_THROW(chat_template("alpaca"), ConfigError);
}

TEST(ImageProcessor, IdentityAtModelSizeThenNormalised) {
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar(0, 128, 255));  // BGR
  auto c = ImageProcessorConfig::for_size(4);
  auto t = preprocess_image(img, c);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 4}));
  EXPECT_NEAR(t[0][1][1].item<double>(), (1.0 - c.image_mean[0]) / c.image_std[0], 1e-5);  // R = 255
  EXPECT_NEAR(t[2][0][0].item<double>(), (0.0 - c.image_mean[2]) / c.image_std[2], 1e-5);  // B = 0
}

TEST(ImageProcessor, ShortestEdgeResizeAndCentreCrop) {
  cv::Mat img(20, 40, CV_8UC1, cv::Scalar(100));
  auto c = ImageProcessorConfig::for_size(10);
  c.do_normalize = false;
  auto t = preprocess_image(img, c);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 10, 10}));
  EXPECT_NEAR(t.mean().item<double>(), 100.0 / 255.0, 1e-3);
}

TEST(ImageProcessor, PadModeFillsWithMeanColour) {
  cv::Mat img(2, 4, CV_8UC3, cv::Scalar(0, 0, 0));
  auto c = ImageProcessorConfig::for_size(4);
  c.aspect_mode = "pad";
  c.do_normalize = false;
  auto t = preprocess_image(img, c);
  EXPECT_NEAR(t[0][0][0].item<double>(), static_cast<int>(c.image_mean[0] * 255) / 255.0, 1e-6);  // padded row
  EXPECT_NEAR(t[0][1][0].item<double>(), 0.0, 1e-6);                                             // image row
}

TEST(ImageProcessor, SixteenBitAndAlphaInputs) {
  cv::Mat img16(4, 4, CV_16UC3, cv::Scalar(65535, 65535, 65535));
  cv::Mat rgba(4, 4, CV_8UC4, cv::Scalar(255, 255, 255, 0));
  auto c = ImageProcessorConfig::for_size(4);
  c.do_normalize = false;
  EXPECT_NEAR(preprocess_image(img16, c).min().item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(preprocess_image(rgba, c).min().item<double>(), 1.0, 1e-6);  // alpha dropped, as PIL convert("RGB")
}

TEST(ImageProcessor, ConfigFromHuggingFaceJson) {
  auto j = nlohmann::json::parse(R"({"crop_size": {"height": 336, "width": 336}, "do_center_crop": true,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "size": {"shortest_edge": 336}, "resample": 3})");
  auto c = ImageProcessorConfig::from_json(j, "preprocessor_config.json");
  EXPECT_EQ(c.shortest_edge, 336);
  EXPECT_EQ(c.crop_width, 336);
  EXPECT_THROW(ImageProcessorConfig::from_json(nlohmann::json::parse(R"({"size": "big"})"), "p.json"), ConfigError);
}

}  // namespace
}  // namespace privprobe
