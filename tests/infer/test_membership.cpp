// The model-free statistics of ask and eval on hand-made cases with known answers: threshold
// choice, fold-wise membership accuracy and AUC, exposure ranks, answer matching and normalisation.
#include <gtest/gtest.h>

#include <cmath>

#include "infer/eval.h"
#include "infer/membership.h"
#include "util/error.h"

namespace privprobe {
namespace {

TEST(Membership, ThresholdMaximisesTrainingAccuracy) {
  const std::vector<double> scores = {1, 2, 3, 4, 10, -5};
  const std::vector<int> labels = {0, 0, 1, 1, 0, 1};
  // On samples 0-3 the classes separate between 2 and 3.
  EXPECT_DOUBLE_EQ(choose_threshold(scores, labels, {0, 1, 2, 3}, "t"), 2.5);
  // All seen-labelled: below every score.
  EXPECT_LT(choose_threshold(scores, labels, {2, 3}, "t"), 3.0);
  // All unseen-labelled: above every score.
  EXPECT_GT(choose_threshold(scores, labels, {0, 1}, "t"), 2.0);
  // Ties: equal scores are never split.
  const std::vector<double> tied = {1, 1, 2, 2};
  const double t = choose_threshold(tied, {0, 1, 0, 1}, {0, 1, 2, 3}, "t");
  EXPECT_TRUE(t < 1 || (t > 1 && t < 2) || t > 2) << t;
  // Infinite scores keep a usable threshold.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_DOUBLE_EQ(choose_threshold({-inf, 0.0}, {0, 1}, {0, 1}, "t"), -1.0);
  EXPECT_THROW(choose_threshold({std::nan(""), 1.0}, {0, 1}, {0, 1}, "scores"), DataError);
}

FoldPlan two_folds() {
  FoldPlan plan;
  plan.samples = 8;
  plan.repeats = {{{0, 1, 4, 5}, {2, 3, 6, 7}}};
  return plan;
}

TEST(Membership, SeparableScoresGiveAccuracyAndAucOne) {
  const std::vector<int> labels = {1, 1, 1, 1, 0, 0, 0, 0};
  const std::vector<double> scores = {10, 11, 12, 13, 1, 2, 3, 4};
  const MembershipResult r = evaluate_membership(scores, labels, two_folds(), "t");
  EXPECT_DOUBLE_EQ(r.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.auc, 1.0);
  ASSERT_EQ(r.folds.size(), 2u);
  EXPECT_GT(r.folds[0].threshold, 4.0);
  EXPECT_LT(r.folds[0].threshold, 12.0);
  // Reversed scores: the training folds pick a threshold that fails on the test folds.
  std::vector<double> reversed(scores.rbegin(), scores.rend());
  const MembershipResult bad = evaluate_membership(reversed, labels, two_folds(), "t");
  EXPECT_DOUBLE_EQ(bad.auc, 0.0);
  EXPECT_LE(bad.accuracy, 0.5);
  // Folds that do not fit the data are refused.
  FoldPlan wrong = two_folds();
  wrong.samples = 9;
  EXPECT_THROW(evaluate_membership(scores, labels, wrong, "folds.json"), DataError);
}

TEST(Exposure, RankAndBitsOfKnownCases) {
  // Four candidates; the truth is best, tied, or last.
  EXPECT_DOUBLE_EQ(candidate_rank({-1, -3, -2, -3}, 0), 1.0);
  EXPECT_DOUBLE_EQ(candidate_rank({-1, -3, -2, -3}, 1), 3.5);  // tied with one other for places 3 and 4
  EXPECT_DOUBLE_EQ(candidate_rank({-1, -3, -2, -4}, 3), 4.0);
  EXPECT_DOUBLE_EQ(exposure(1.0, 4), 2.0);
  EXPECT_DOUBLE_EQ(exposure(4.0, 4), 0.0);
  EXPECT_DOUBLE_EQ(exposure(3.5, 4), 2.0 - std::log2(3.5));
  // A constant scorer (every candidate equally likely) has the mean rank: exposure log2(C) - log2((C+1)/2).
  EXPECT_DOUBLE_EQ(candidate_rank({0, 0, 0, 0, 0}, 2), 3.0);
}

TEST(Answers, ContainsIgnoresCase) {
  EXPECT_TRUE(answer_contains("The user is SOPHIA chen.", "Sophia Chen"));
  EXPECT_FALSE(answer_contains("Sophia", "Sophia Chen"));
  EXPECT_FALSE(answer_contains("anything", ""));
}

TEST(Answers, VqaNormalisation) {
  EXPECT_EQ(normalize_vqa_answer("The Red."), "red");
  EXPECT_EQ(normalize_vqa_answer("  a  blue-green   circle!"), "bluegreen circle");
  EXPECT_EQ(normalize_vqa_answer("An apple, THE end"), "apple end");
  EXPECT_EQ(normalize_vqa_answer("another"), "another");  // articles only as whole words
  EXPECT_EQ(normalize_vqa_answer("\t2\n"), "2");
  EXPECT_EQ(normalize_vqa_answer("..."), "");
  EXPECT_EQ(normalize_vqa_answer("Yes"), normalize_vqa_answer("yes!"));
  EXPECT_EQ(vqa_question_type("How many shapes are there?"), "count");
  EXPECT_EQ(vqa_question_type("<image>\nWhat colour is the circle?"), "color");
  EXPECT_EQ(vqa_question_type("What is the username?"), "other");
}

}  // namespace
}  // namespace privprobe
