// Questions about synthetic scenes: six types with one-word answers, four phrasings each.
// A sample's questions are planned before its scene is drawn (type, and the wanted answer where
// balance needs it: left/right, yes/no); the scene is then redrawn until every planned question is
// unambiguous, so answers within a type stay balanced and no question is ever ill-posed.
#pragma once

#include <string>
#include <vector>

#include "data/synth_scene.h"
#include "util/rng.h"

namespace privprobe {

enum class QuestionType { kColor, kShape, kCount, kPosition, kExists, kLargest };

// "color", "shape", "count", "position", "exists", "largest" (the order of QuestionType).
const std::string& question_type_name(QuestionType type);

struct QuestionPlan {
  QuestionType type = QuestionType::kCount;
  int side = -1;         // kPosition: -1 left, +1 right
  bool present = false;  // kExists: whether the asked-for object is there
};

struct QuestionAnswer {
  QuestionType type = QuestionType::kCount;
  std::string question;  // without the image token
  std::string answer;    // one lower-case word: a colour, a shape, a digit, left/right, yes/no
};

// `turns` distinct types in random order, with balanced wanted answers. turns <= 6.
std::vector<QuestionPlan> plan_questions(Rng& rng, int turns);

// Whether the scene allows the planned question without ambiguity:
//   color     some shape occurs exactly once (the question names it)
//   position  some object lies wholly in the wanted half
//   largest   one object, or the largest has at least 1.4 times the area of the next
// shape, count and exists are always possible (colours are distinct within a scene).
bool scene_supports(const Scene& scene, const QuestionPlan& plan);

// Writes the question and its answer; the scene must support the plan.
QuestionAnswer ask_question(Rng& rng, const Scene& scene, const QuestionPlan& plan);

// synth_question_types() and synth_question_type() (declared in data/synth.h) live beside the
// templates in synth_questions.cpp.

}  // namespace privprobe
