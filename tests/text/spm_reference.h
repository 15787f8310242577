// Debian's SentencePiece command-line tools as the reference our tokenizer is checked against.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace privprobe::test {

bool spm_tools_available();

// `spm_encode --output_format=id` on each line (lines must not contain '\n').
std::vector<std::vector<int>> spm_encode_ids(const std::filesystem::path& model, const std::vector<std::string>& lines,
                                             const std::filesystem::path& work_dir);

// `spm_decode --input_format=id` on each id sequence.
std::vector<std::string> spm_decode_ids(const std::filesystem::path& model, const std::vector<std::vector<int>>& ids,
                                        const std::filesystem::path& work_dir);

// Runs spm_train with `args` (besides --input and --model_prefix) in work_dir on `corpus_lines`;
// returns the model path.
std::filesystem::path spm_train_raw(const std::vector<std::string>& corpus_lines, const std::vector<std::string>& args,
                                    const std::filesystem::path& work_dir, const std::string& prefix);

// A deterministic corpus of the kind the study trains on: questions, answers, names of many
// cultures, ten-digit ids, timestamps, locations.
std::vector<std::string> synthetic_corpus(std::size_t lines, std::uint64_t seed);

// Test strings: ASCII, names, digits, dates, punctuation, runs of spaces, leading and trailing
// spaces, accented letters, CJK, emoji, "<image>", malformed UTF-8 (no newlines).
std::vector<std::string> probe_strings();

}  // namespace privprobe::test
