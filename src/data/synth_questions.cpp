#include "data/synth_questions.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "data/llava_json.h"
#include "data/synth.h"
#include "util/error.h"

namespace privprobe {
namespace {

constexpr std::size_t kTypeCount = 6;
constexpr double kLargestAreaRatio = 1.4;
// Half of the "no" answers to existence questions name a present colour or shape in a wrong
// combination, so that they cannot be answered from one attribute alone.
constexpr double kNearMissShare = 0.5;

// Placeholders: {shape}, {color}, {ref} (a reference to one object: "circle", "red object",
// "red circle"). "a" before a vowel becomes "an" when filled in.
const std::vector<std::vector<std::string>>& templates() {
  static const std::vector<std::vector<std::string>> all = {
      {  // color
       "What colour is the {shape}?", "What is the colour of the {shape}?", "Which colour does the {shape} have?",
       "What color is the {shape} in the image?"},
      {  // shape
       "What shape is the {color} object?", "What is the shape of the {color} object?", "Which shape is {color}?",
       "What kind of shape is the {color} one?"},
      {  // count
       "How many shapes are there?", "How many objects are in the image?", "Count the shapes in the picture.",
       "What is the number of shapes in the image?"},
      {  // position
       "Is the {ref} on the left or the right?", "Is the {ref} on the left or right side of the image?",
       "Which side is the {ref} on, left or right?", "Is the {ref} in the left half or the right half?"},
      {  // exists
       "Is there a {color} {shape}?", "Does the image contain a {color} {shape}?", "Can you see a {color} {shape}?",
       "Is there a {color} {shape} in the picture?"},
      {  // largest
       "What colour is the largest shape?", "What is the colour of the biggest object?",
       "Which colour is the largest object?", "What colour is the biggest shape in the image?"},
  };
  return all;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

std::string fill(std::string text, const std::string& shape, const std::string& color, const std::string& ref) {
  replace_all(text, "{shape}", shape);
  replace_all(text, "{color}", color);
  replace_all(text, "{ref}", ref);
  for (const char* vowel : {"a", "e", "i", "o", "u"}) replace_all(text, std::string(" a ") + vowel, std::string(" an ") + vowel);
  return text;
}

std::string lower_trimmed(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Every object reference a position question may use.
std::vector<std::string> all_refs() {
  std::vector<std::string> refs = synth_shape_names();
  for (const auto& color : synth_color_names()) {
    refs.push_back(color + " object");
    for (const auto& shape : synth_shape_names()) refs.push_back(color + " " + shape);
  }
  return refs;
}

// Every question synth can write, lower-cased, with its type.
std::map<std::string, std::string> build_question_index() {
  std::map<std::string, std::string> index;
  const auto& types = synth_question_types();
  const auto refs = all_refs();
  for (std::size_t t = 0; t < kTypeCount; ++t) {
    for (const std::string& pattern : templates()[t]) {
      for (const auto& shape : synth_shape_names()) {
        for (const auto& color : synth_color_names()) {
          for (const auto& ref : refs) {
            const std::string question = lower_trimmed(fill(pattern, shape, color, ref));
            auto [it, inserted] = index.emplace(question, types[t]);
            if (!inserted && it->second != types[t]) {
              throw DataError(error_message("synth", "question '" + question + "' belongs to two types"));
            }
          }
        }
      }
    }
  }
  return index;
}

int count_shape(const Scene& scene, int shape) {
  return static_cast<int>(std::count_if(scene.objects.begin(), scene.objects.end(),
                                         [&](const SceneObject& o) { return o.shape == shape; }));
}

std::vector<const SceneObject*> uniquely_shaped(const Scene& scene) {
  std::vector<const SceneObject*> out;
  for (const auto& o : scene.objects) {
    if (count_shape(scene, o.shape) == 1) out.push_back(&o);
  }
  return out;
}

std::vector<const SceneObject*> on_side(const Scene& scene, int side) {
  std::vector<const SceneObject*> out;
  for (const auto& o : scene.objects) {
    if (o.side(scene.size) == side) out.push_back(&o);
  }
  return out;
}

// The clearly largest object, or nullptr when the two largest are too close to call.
const SceneObject* clearly_largest(const Scene& scene) {
  if (scene.objects.empty()) return nullptr;
  std::vector<const SceneObject*> by_area;
  for (const auto& o : scene.objects) by_area.push_back(&o);
  std::sort(by_area.begin(), by_area.end(), [](const SceneObject* a, const SceneObject* b) { return a->area() > b->area(); });
  if (by_area.size() > 1 && by_area[0]->area() < kLargestAreaRatio * by_area[1]->area()) return nullptr;
  return by_area[0];
}

}  // namespace

const std::vector<std::string>& synth_question_types() {
  static const std::vector<std::string> types = {"color", "shape", "count", "position", "exists", "largest"};
  return types;
}

const std::string& question_type_name(QuestionType type) {
  return synth_question_types().at(static_cast<std::size_t>(type));
}

std::string synth_question_type(const std::string& question) {
  static const std::map<std::string, std::string> index = build_question_index();
  std::string text = lower_trimmed(question);
  const std::string token = kImageToken;
  if (text.rfind(token, 0) == 0) text = lower_trimmed(text.substr(token.size()));
  if (text.size() >= token.size() && text.compare(text.size() - token.size(), token.size(), token) == 0) {
    text = lower_trimmed(text.substr(0, text.size() - token.size()));
  }
  const auto it = index.find(text);
  return it == index.end() ? std::string() : it->second;
}

std::vector<QuestionPlan> plan_questions(Rng& rng, int turns) {
  std::vector<int> order(kTypeCount);
  for (std::size_t t = 0; t < kTypeCount; ++t) order[t] = static_cast<int>(t);
  rng.shuffle(order);
  const std::size_t n = std::min<std::size_t>(kTypeCount, static_cast<std::size_t>(std::max(turns, 0)));
  std::vector<QuestionPlan> plans;
  for (std::size_t i = 0; i < n; ++i) {
    QuestionPlan plan;
    plan.type = static_cast<QuestionType>(order[i]);
    plan.side = rng.bernoulli(0.5) ? -1 : 1;
    plan.present = rng.bernoulli(0.5);
    plans.push_back(plan);
  }
  return plans;
}

bool scene_supports(const Scene& scene, const QuestionPlan& plan) {
  if (scene.objects.empty()) return false;
  switch (plan.type) {
    case QuestionType::kColor: return !uniquely_shaped(scene).empty();
    case QuestionType::kPosition: return !on_side(scene, plan.side).empty();
    case QuestionType::kLargest: return clearly_largest(scene) != nullptr;
    case QuestionType::kShape:
    case QuestionType::kCount:
    case QuestionType::kExists: return true;
  }
  return false;
}

QuestionAnswer ask_question(Rng& rng, const Scene& scene, const QuestionPlan& plan) {
  if (!scene_supports(scene, plan)) {
    throw DataError(error_message("synth", "scene does not support a '" + question_type_name(plan.type) + "' question"));
  }
  const auto& shapes = synth_shape_names();
  const auto& colors = synth_color_names();
  const std::string& pattern = rng.pick(templates()[static_cast<std::size_t>(plan.type)]);
  auto shape_of = [&](const SceneObject& o) { return shapes[static_cast<std::size_t>(o.shape)]; };
  auto color_of = [&](const SceneObject& o) { return colors[static_cast<std::size_t>(o.color)]; };

  QuestionAnswer qa;
  qa.type = plan.type;
  switch (plan.type) {
    case QuestionType::kColor: {
      const SceneObject& o = *rng.pick(uniquely_shaped(scene));
      qa.question = fill(pattern, shape_of(o), "", "");
      qa.answer = color_of(o);
      break;
    }
    case QuestionType::kShape: {
      const SceneObject& o = rng.pick(scene.objects);
      qa.question = fill(pattern, "", color_of(o), "");
      qa.answer = shape_of(o);
      break;
    }
    case QuestionType::kCount:
      qa.question = pattern;
      qa.answer = std::to_string(scene.objects.size());
      break;
    case QuestionType::kPosition: {
      const SceneObject& o = *rng.pick(on_side(scene, plan.side));
      std::vector<std::string> refs = {color_of(o) + " object", color_of(o) + " " + shape_of(o)};
      if (count_shape(scene, o.shape) == 1) refs.push_back(shape_of(o));
      qa.question = fill(pattern, "", "", rng.pick(refs));
      qa.answer = plan.side < 0 ? "left" : "right";
      break;
    }
    case QuestionType::kExists: {
      std::vector<std::pair<int, int>> absent, near_miss;  // (shape, colour)
      for (int s = 0; s < static_cast<int>(shapes.size()); ++s) {
        for (int c = 0; c < static_cast<int>(colors.size()); ++c) {
          bool here = false, shares = false;
          for (const auto& o : scene.objects) {
            here = here || (o.shape == s && o.color == c);
            shares = shares || o.shape == s || o.color == c;
          }
          if (here) continue;
          absent.emplace_back(s, c);
          if (shares) near_miss.emplace_back(s, c);
        }
      }
      std::pair<int, int> asked;
      if (plan.present) {
        const SceneObject& o = rng.pick(scene.objects);
        asked = {o.shape, o.color};
      } else if (!near_miss.empty() && rng.bernoulli(kNearMissShare)) {
        asked = rng.pick(near_miss);
      } else {
        asked = rng.pick(absent);
      }
      qa.question = fill(pattern, shapes[static_cast<std::size_t>(asked.first)], colors[static_cast<std::size_t>(asked.second)], "");
      qa.answer = plan.present ? "yes" : "no";
      break;
    }
    case QuestionType::kLargest:
      qa.question = pattern;
      qa.answer = color_of(*clearly_largest(scene));
      break;
  }
  return qa;
}

}  // namespace privprobe
