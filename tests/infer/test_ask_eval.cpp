// ask and eval on a tiny random checkpoint: answer scoring with a shared prompt cache equals a
// teacher-forced forward, ask's records are consistent with their definitions and reuse given
// folds, eval counts normalised exact matches per question type, and bad inputs are refused.
#include <gtest/gtest.h>

#include <cmath>

#include "infer/ask.h"
#include "infer/eval.h"
#include "infer/inference.h"
#include "infer/membership.h"
#include "infer_fixtures.h"
#include "probe/folds.h"
#include "probeset/probeset.h"
#include "probeset_fixtures.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

class Infer : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_tiny_checkpoint(checkpoint);
    options.threads = 1;
  }
  // log p(answer | prompt) from a full teacher-forced forward.
  double forward_logprob(InferenceModel& m, const std::string& question, const fs::path& image, const std::string& answer) {
    torch::NoGradGuard no_grad;
    const TokenizedInputs tokens = m.question(question, true, answer);
    const std::vector<BatchRow> rows = {{&tokens, m.image(image)}};
    return m.model()->forward(left_padded_batch(m, rows, /*with_labels=*/true)).token_logprobs[0].item<double>();
  }
  test::TempDir dir{"infer"};
  fs::path checkpoint = dir / "ckpt";
  InferenceOptions options;
};

TEST_F(Infer, SharedPromptScoringEqualsTeacherForcedForward) {
  const ProbeSet set = load_probeset(test::write_tiny_probeset(dir.path(), 1));
  InferenceModel m = open_inference_model(checkpoint, options);
  const std::vector<std::string> answers = {"Seenaxxxx", "Hi", "A much longer answer, with punctuation!", "Q"};
  std::vector<std::vector<std::int64_t>> tokens;
  for (const auto& a : answers) tokens.push_back(answer_tokens(m, set.question, true, a));
  EXPECT_EQ(tokens[3].back(), m.tokenizer().eos_id());
  const TokenizedInputs prompt = m.question(set.question, true);
  const torch::Tensor image = m.image(set.samples[0].image_path);
  for (int chunk : {1, 3, 8}) {
    const std::vector<double> scores = score_answers(m, prompt.input_ids, image, tokens, chunk);
    for (std::size_t i = 0; i < answers.size(); ++i) {
      EXPECT_NEAR(scores[i], forward_logprob(m, set.question, set.samples[0].image_path, answers[i]), 1e-4)
          << answers[i] << ", chunk " << chunk;
      EXPECT_LT(scores[i], 0.0);
    }
  }
}

TEST_F(Infer, AskRecordsFollowTheirDefinitions) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 6);
  AskConfig config;
  config.model = checkpoint;
  config.probeset = probeset;
  config.out = dir / "ask";
  config.batch_size = 4;
  config.max_new_tokens = 5;
  config.fold_count = 3;
  config.repeats = 2;
  config.inference = options;
  const AskResult result = run_ask(config);
  EXPECT_EQ(result.samples, 12u);
  EXPECT_EQ(result.candidates, 6u);

  const json doc = read_json(dir / "ask" / "ask.json");
  EXPECT_EQ(doc["format_version"], kFormatVersion);
  EXPECT_EQ(doc["membership"]["folds"]["source"], "kfold");
  EXPECT_EQ(doc["membership"]["calibrated"]["folds"].size(), 6u);
  EXPECT_TRUE(doc["membership"]["uncalibrated"].contains("note"));
  EXPECT_DOUBLE_EQ(doc["exposure"]["max"].get<double>(), std::log2(6.0));
  const ProbeSet set = load_probeset(probeset);
  InferenceModel m = open_inference_model(checkpoint, options);
  const TokenizedInputs prompt = m.question(set.question, true);
  const std::vector<BatchRow> first_row = {{&prompt, m.image(set.samples[0].image_path)}};
  EXPECT_EQ(doc["samples"][0]["answer"], generate_answers(m, first_row, 5)[0]);
  double contains = 0;
  for (std::size_t i = 0; i < 12; ++i) {
    const json& s = doc["samples"][i];
    const double wm = s["logp_watermarked"], clean = s["logp_clean"], rank = s["rank"];
    EXPECT_NEAR(s["calibrated"].get<double>(), wm - clean, 1e-12);
    EXPECT_GE(rank, 1.0);
    EXPECT_LE(rank, 6.0);
    EXPECT_NEAR(s["exposure"].get<double>(), std::log2(6.0) - std::log2(rank), 1e-12);
    EXPECT_EQ(s["contains"], answer_contains(s["answer"], s["username"]));
    contains += s["contains"].get<bool>();
  }
  EXPECT_NEAR(doc["generation"]["contains_rate"].get<double>(), contains / 12, 1e-12);
  // Sample 1: the likelihoods are those of a teacher-forced forward on its images.
  const ProbeSample& s1 = set.samples[1];
  EXPECT_NEAR(doc["samples"][1]["logp_watermarked"].get<double>(), forward_logprob(m, set.question, s1.image_path, s1.username), 1e-4);
  EXPECT_NEAR(doc["samples"][1]["logp_clean"].get<double>(), forward_logprob(m, set.question, s1.clean_path, s1.username), 1e-4);

  // Same inputs, same bytes; given folds are used as they are.
  config.out = dir / "ask2";
  run_ask(config);
  EXPECT_EQ(read_file(dir / "ask" / "ask.json"), read_file(dir / "ask2" / "ask.json"));
  std::vector<int> labels;
  std::vector<std::int64_t> groups;
  for (const auto& s : set.samples) {
    labels.push_back(s.label);
    groups.push_back(s.group);
  }
  write_json_atomic(dir / "folds.json", fold_plan_to_json(make_group_kfold(labels, groups, 2, 1, 9, "test")));
  config.folds = dir / "folds.json";
  config.out = dir / "ask3";
  run_ask(config);
  const json with_folds = read_json(dir / "ask3" / "ask.json");
  EXPECT_EQ(with_folds["membership"]["folds"]["source"], "file");
  EXPECT_EQ(with_folds["membership"]["calibrated"]["folds"].size(), 2u);
}

TEST_F(Infer, AskRefusesBadInputsBeforeAnyModelWork) {
  const fs::path probeset = test::write_tiny_probeset(dir.path(), 2);
  AskConfig config;
  config.model = checkpoint;
  config.probeset = probeset;
  config.out = dir / "ask";
  config.inference = options;
  config.fold_count = 2;
  // Folds for another number of samples.
  const json fold = {{"test", {0, 1}}};
  const json repeat = {{"folds", json::array({fold})}};
  write_json_atomic(dir / "folds.json", {{"samples", 10}, {"repeats", json::array({repeat})}});
  config.folds = dir / "folds.json";
  try {
    run_ask(config);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("folds.json"), std::string::npos) << e.what();
  }
  config.folds.clear();
  config.fold_count = 3;  // two groups cannot make three folds
  EXPECT_THROW(run_ask(config), DataError);
  config.fold_count = 2;
  config.group_by = "colour";
  EXPECT_THROW(run_ask(config), ConfigError);
  config.group_by = "image";
  config.model = dir / "nowhere";
  EXPECT_THROW(run_ask(config), IoError);
  config.model = checkpoint;
  config.folds = dir / "missing_folds.json";
  EXPECT_THROW(run_ask(config), IoError);
  EXPECT_FALSE(fs::exists(dir / "ask" / "ask.json"));
}

// A small VQA file: one-turn and two-turn image questions, and a text-only one.
json vqa_data(const std::vector<std::string>& answers) {
  auto turn = [](const char* from, const std::string& value) { return json{{"from", from}, {"value", value}}; };
  return json::array({
      {{"id", "a"}, {"image", "img_00.png"}, {"conversations", {turn("human", "<image>\nHow many shapes are there?"), turn("gpt", answers[0])}}},
      {{"id", "b"},
       {"image", "img_01.png"},
       {"conversations",
        {turn("human", "<image>\nWhat colour is the circle?"), turn("gpt", answers[1]), turn("human", "Is there a red square?"),
         turn("gpt", answers[2])}}},
      {{"id", "c"}, {"conversations", {turn("human", "Say hi"), turn("gpt", answers[3])}}},
  });
}

TEST_F(Infer, EvalCountsNormalisedExactMatchesPerType) {
  test::write_images(dir / "images", 2, 32, 32);
  write_json_atomic(dir / "test.json", vqa_data({"2", "red", "yes", "hi"}));
  EvalConfig config;
  config.model = checkpoint;
  config.data = dir / "test.json";
  config.image_root = dir / "images";
  config.out = dir / "eval";
  config.batch_size = 3;
  config.max_new_tokens = 4;
  config.inference = options;
  const EvalResult first = run_eval(config);
  EXPECT_EQ(first.items, 4u);
  const json doc = read_json(dir / "eval" / "eval.json");
  EXPECT_EQ(doc["total"], 4);
  EXPECT_EQ(doc["per_type"]["count"]["total"], 1);
  EXPECT_EQ(doc["per_type"]["color"]["total"], 1);
  EXPECT_EQ(doc["per_type"]["exists"]["total"], 1);
  EXPECT_EQ(doc["per_type"]["other"]["total"], 1);
  EXPECT_EQ(doc["samples"][2]["turn"], 1);

  // References that are the model's own answers, dressed up: all four match after normalisation.
  std::vector<std::string> dressed;
  for (const json& s : doc["samples"]) dressed.push_back("The " + s["prediction"].get<std::string>() + "!");
  write_json_atomic(dir / "test.json", vqa_data(dressed));
  const EvalResult second = run_eval(config);
  EXPECT_EQ(second.correct, 4u);
  EXPECT_DOUBLE_EQ(read_json(dir / "eval" / "eval.json")["per_type"]["color"]["accuracy"].get<double>(), 1.0);

  config.count = 2;
  EXPECT_EQ(run_eval(config).items, 2u);
}

TEST_F(Infer, EvalBadInputs) {
  test::write_images(dir / "images", 1, 32, 32);
  write_json_atomic(dir / "test.json", vqa_data({"2", "red", "yes", "hi"}));  // img_01.png is missing
  EvalConfig config;
  config.model = checkpoint;
  config.data = dir / "test.json";
  config.image_root = dir / "images";
  config.out = dir / "eval";
  config.inference = options;
  try {
    run_eval(config);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("img_01.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.json"), std::string::npos) << e.what();
  }
  write_json_atomic(dir / "test.json", json::array({{{"id", "x"}, {"conversations", {{{"from", "human"}, {"value", "q"}}}}}}));
  EXPECT_THROW(run_eval(config), DataError);
  config.data = dir / "absent.json";
  EXPECT_THROW(run_eval(config), IoError);
}

}  // namespace
}  // namespace privprobe
