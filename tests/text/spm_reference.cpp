#include "spm_reference.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/test_support.h"
#include "text/subprocess.h"
#include "util/atomic_file.h"
#include "util/rng.h"

namespace fs = std::filesystem;

namespace privprobe::test {

bool spm_tools_available() {
  return !find_program("spm_encode").empty() && !find_program("spm_decode").empty() &&
         !find_program("spm_train").empty();
}

namespace {

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  write_text(path, text);
}

void run_or_fail(const ProcessSpec& spec) {
  const int status = run_process(spec);
  if (status != 0) {
    std::string err = spec.stderr_file.empty() ? "" : read_file(spec.stderr_file);
    if (err.size() > 2000) err = err.substr(err.size() - 2000);
    throw std::runtime_error(spec.argv[0] + " failed with status " + std::to_string(status) + ": " + err);
  }
}

}  // namespace

std::vector<std::vector<int>> spm_encode_ids(const fs::path& model, const std::vector<std::string>& lines,
                                             const fs::path& work_dir) {
  write_lines(work_dir / "encode_in.txt", lines);
  ProcessSpec spec;
  spec.argv = {"spm_encode", "--model=" + model.string(), "--output_format=id"};
  spec.stdin_file = work_dir / "encode_in.txt";
  spec.stdout_file = work_dir / "encode_out.txt";
  spec.stderr_file = work_dir / "encode_err.txt";
  run_or_fail(spec);
  std::vector<std::vector<int>> out;
  for (const std::string& line : read_lines(spec.stdout_file)) {
    std::istringstream in(line);
    std::vector<int> ids;
    int id;
    while (in >> id) ids.push_back(id);
    out.push_back(ids);
  }
  if (out.size() != lines.size()) throw std::runtime_error("spm_encode returned a different number of lines");
  return out;
}

std::vector<std::string> spm_decode_ids(const fs::path& model, const std::vector<std::vector<int>>& ids,
                                        const fs::path& work_dir) {
  std::vector<std::string> lines;
  for (const auto& sequence : ids) {
    std::string line;
    for (const int id : sequence) line += (line.empty() ? "" : " ") + std::to_string(id);
    lines.push_back(line);
  }
  write_lines(work_dir / "decode_in.txt", lines);
  ProcessSpec spec;
  spec.argv = {"spm_decode", "--model=" + model.string(), "--input_format=id"};
  spec.stdin_file = work_dir / "decode_in.txt";
  spec.stdout_file = work_dir / "decode_out.txt";
  spec.stderr_file = work_dir / "decode_err.txt";
  run_or_fail(spec);
  std::vector<std::string> out = read_lines(spec.stdout_file);
  if (out.size() != ids.size()) throw std::runtime_error("spm_decode returned a different number of lines");
  return out;
}

fs::path spm_train_raw(const std::vector<std::string>& corpus_lines, const std::vector<std::string>& args,
                       const fs::path& work_dir, const std::string& prefix) {
  write_lines(work_dir / (prefix + ".corpus.txt"), corpus_lines);
  ProcessSpec spec;
  spec.argv = {"spm_train", "--input=" + prefix + ".corpus.txt", "--model_prefix=" + prefix, "--num_threads=1",
               "--minloglevel=1"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.working_dir = work_dir;
  spec.stderr_file = work_dir / (prefix + ".train_err.txt");
  run_or_fail(spec);
  return work_dir / (prefix + ".model");
}

std::vector<std::string> synthetic_corpus(std::size_t lines, std::uint64_t seed) {
  const std::vector<std::string> names = {
      "Ibrahim Al-Salem", "Kim Jisoo",      "Maria Garcia",     "John Smith",   "Aiko Tanaka",  "Olusegun Adeyemi",
      "Priya Sharma",     "Lars Eriksson",  "Nguyen Van An",    "Fatima Zahra", "Chen Wei",     "Sofia Rossi",
      "Dmitri Ivanov",    "Amara Okafor",   "Mateo Fernandez",  "Yusuf Demir",  "Hana Novak",   "Aroha Ngata"};
  const std::vector<std::string> cities = {"Cairo, Egypt", "Seoul, South Korea", "Lima, Peru", "Oslo, Norway",
                                           "Lagos, Nigeria", "Hanoi, Vietnam", "Quito, Ecuador"};
  const std::vector<std::string> questions = {"What colour is the circle?", "How many squares are there?",
                                              "What is the username?", "Is the triangle red?",
                                              "Which shape is on the left?", "What is the capture location?"};
  const std::vector<std::string> answers = {"Red.", "Three.", "Yes", "No", "The blue square.", "Green", "two"};
  Rng rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string digits;
    for (int d = 0; d < 10; ++d) digits += static_cast<char>('0' + rng.below(10));
    char date[32];
    std::snprintf(date, sizeof date, "20%02d-%02d-%02d %02d:%02d:%02d", static_cast<int>(rng.range(10, 24)),
                  static_cast<int>(rng.range(1, 12)), static_cast<int>(rng.range(1, 28)),
                  static_cast<int>(rng.range(0, 23)), static_cast<int>(rng.range(0, 59)),
                  static_cast<int>(rng.range(0, 59)));
    switch (rng.below(4)) {
      case 0: out.push_back("<image> " + rng.pick(questions) + " " + rng.pick(answers)); break;
      case 1: out.push_back("username: " + rng.pick(names) + " user_id: " + digits); break;
      case 2: out.push_back("capture_time: " + std::string(date) + " capture_location: " + rng.pick(cities)); break;
      default: out.push_back(rng.pick(questions) + " The answer is " + rng.pick(answers)); break;
    }
  }
  return out;
}

std::vector<std::string> probe_strings() {
  return {
      "",
      "a",
      "Hello world",
      "What colour is the circle?",
      "How many squares are there? Three.",
      "Ibrahim Al-Salem",
      "Kim Jisoo",
      "username: Olusegun Adeyemi user_id: 5374982160",
      "5374982160",
      "0000000000",
      "2022-11-04 18:07:53",
      "capture_time: 2022-11-04 18:07:53 capture_location: Seoul, South Korea",
      "Hello,   world!!  (multiple   spaces)",
      "   leading spaces",
      "trailing spaces   ",
      "  both  ",
      " ",
      "     ",
      "punctuation: .,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`",
      "caf\xC3\xA9 na\xC3\xAFve \xC3\xBC\xC3\x9F Stra\xC3\x9F" "e",  // café naïve üß Straße
      "Jos\xC3\xA9 Mar\xC3\xAD" "a Gonz\xC3\xA1lez", // José María González
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",                       // 日本語
      "\xEA\xB9\x80\xEC\xA7\x80\xEC\x88\x98",                       // 김지수
      "\xD0\x94\xD0\xBC\xD0\xB8\xD1\x82\xD1\x80\xD0\xB8\xD0\xB9",   // Дмитрий
      "\xD8\xA5\xD8\xA8\xD8\xB1\xD8\xA7\xD9\x87\xD9\x8A\xD9\x85",   // إبراهيم
      "emoji \xF0\x9F\x98\x80 and \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!",  // 😀 👍🏽
      "<image>",
      "<image> What colour is the circle?",
      "USER: <image>What colour is the circle? ASSISTANT:",
      "<image><image>",
      "<imag <image <image>>",
      "tab\tseparated\tvalues",
      "a\xE2\x96\x81" "b",                                          // a literal U+2581
      "invalid \xFF utf8 \xC3 end",
      "\xE0\x80\x80 overlong and \xED\xA0\x80 surrogate",
      "The answer is Red.",
      "Which shape is on the left?",
  };
}

}  // namespace privprobe::test
