// The tiny model's own tokenizer, trained when pretraining starts without --tokenizer: BPE with
// byte fallback (text/spm_train.h) on the training data's text — every turn, prompts in the
// template's shape — plus the usernames of any profile files given (--tokenizer-profiles). Give
// the seen and the unseen profile sets alike, or neither: a vocabulary that spells one set's names
// in whole pieces and the other's in bytes makes the two sets differ before any training.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace privprobe {

struct TokenizerSetup {
  std::vector<std::string> corpus_lines;
  std::vector<std::filesystem::path> profile_files;
  int vocab_size = 512;  // the model config's; lowered to what the corpus supports
  std::filesystem::path output;
};

// Trains and writes output (atomically); returns the vocabulary size reached. When spm_train says
// the corpus supports fewer pieces ("Please set it to a value <= N"), trains again with N.
// Throws IoError (spm_train missing), DataError (spm_train failed) or ConfigError (vocab too small).
int train_tokenizer(const TokenizerSetup& setup);

}  // namespace privprobe
