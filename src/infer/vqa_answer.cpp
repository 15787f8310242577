// The torch-free part of `eval`: answer normalisation and question types.
#include <cctype>
#include <sstream>

#include "data/synth.h"
#include "infer/eval.h"

namespace privprobe {

std::string normalize_vqa_answer(const std::string& answer) {
  std::string text;
  text.reserve(answer.size());
  for (unsigned char c : answer) {
    if (std::ispunct(c)) continue;
    text.push_back(static_cast<char>(std::tolower(c)));
  }
  std::istringstream words(text);
  std::string word, out;
  while (words >> word) {
    if (word == "a" || word == "an" || word == "the") continue;
    if (!out.empty()) out.push_back(' ');
    out += word;
  }
  return out;
}

std::string vqa_question_type(const std::string& question) {
  const std::string type = synth_question_type(question);  // ignores a leading or trailing <image>
  return type.empty() ? "other" : type;
}

}  // namespace privprobe
