// Training a SentencePiece vocabulary with Debian's `spm_train` (package `sentencepiece`), the
// way the tiny model gets its tokenizer: BPE with byte fallback (any username can be encoded),
// "<image>" as a user-defined symbol, the identity normaliser (no NFKC), and fixed special ids
// 0 <unk>, 1 <s>, 2 </s>, 3 <pad> (kSpmUnkId... in sentencepiece_model.h).
//
// Deterministic: one thread, every input line used in file order, a fixed random seed, and the
// training runs in a private folder on a copy named corpus.txt, so the paths recorded in the
// model's trainer_spec are the same wherever the corpus and the output live. Same corpus and
// options, same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "text/sentencepiece_model.h"

namespace privprobe {

struct SpmTrainConfig {
  std::filesystem::path corpus;  // UTF-8 text, one sentence per line
  std::filesystem::path output;  // the tokenizer.model to write (atomically)
  int vocab_size = 512;          // must exceed 4 + user-defined symbols + 256 byte pieces + characters
  SentencePieceAlgorithm model_type = SentencePieceAlgorithm::kBpe;  // kBpe or kUnigram
  std::vector<std::string> user_defined_symbols = {"<image>"};
  bool remove_extra_whitespaces = false;  // as Llama: spaces survive encode -> decode
  double character_coverage = 1.0;        // every character of the corpus gets a piece
  std::uint32_t seed = 0;
  std::string program = "spm_train";

  // Throws ConfigError for an impossible combination.
  void validate() const;
};

// True when the spm_train program can be found in PATH.
bool spm_train_available(const std::string& program = "spm_train");

// Runs spm_train and moves the model to config.output. Returns config.output. Throws ConfigError
// (bad options), IoError (spm_train missing, corpus unreadable), or DataError with the last line
// spm_train printed when it fails.
std::filesystem::path train_sentencepiece(const SpmTrainConfig& config);

}  // namespace privprobe
