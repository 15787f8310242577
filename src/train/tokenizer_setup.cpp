#include "train/tokenizer_setup.h"

#include <regex>

#include "profiles/profile.h"
#include "text/spm_train.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// spm_train's complaint when the corpus has fewer merges than asked: "... Please set it to a value <= 408."
int supported_vocab(const std::string& message) {
  static const std::regex pattern(R"(value <= (\d+))");
  std::smatch match;
  if (std::regex_search(message, match, pattern)) return std::stoi(match[1].str());
  return -1;
}

// 4 special pieces, <image>, 256 byte pieces and one more: spm_train's smallest useful vocabulary.
constexpr int kMinimumVocab = 4 + 1 + 256 + 1;

}  // namespace

int train_tokenizer(const TokenizerSetup& setup) {
  std::string corpus;
  for (const auto& line : setup.corpus_lines) corpus += line + "\n";
  for (const auto& file : setup.profile_files) {
    for (const auto& profile : load_profiles(file).profiles) corpus += profile.username + "\n";
  }
  if (corpus.empty()) throw DataError(error_message("tokenizer corpus", "is empty: the training data has no text"));
  const fs::path corpus_file = temp_path_for(setup.output.parent_path() / "tokenizer_corpus.txt");
  write_file_atomic(corpus_file, corpus);
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } cleanup{corpus_file};

  SpmTrainConfig spm;
  spm.corpus = corpus_file;
  spm.output = setup.output;
  spm.vocab_size = setup.vocab_size;
  const auto attempt = [&](int vocab) {
    spm.vocab_size = vocab;
    try {
      train_sentencepiece(spm);
      return true;
    } catch (const DataError&) {
      return false;
    }
  };
  try {
    train_sentencepiece(spm);
    return spm.vocab_size;
  } catch (const DataError& e) {
    // A small corpus supports fewer pieces than asked. spm_train names the limit, but only on a
    // line before the last one, which is all train_sentencepiece reports; so the largest size
    // that trains is searched for (success is monotone in the size).
    int low = kMinimumVocab - 1, high = setup.vocab_size;  // low: known to fail or below the minimum
    if (const int supported = supported_vocab(e.what()); supported >= kMinimumVocab && supported < high) {
      if (attempt(supported)) low = supported; else high = supported;
    }
    while (high - low > 1) {
      const int middle = low + (high - low) / 2;
      if (attempt(middle)) low = middle; else high = middle;
    }
    if (low < kMinimumVocab) throw;
    // The output holds the model of the last success, which is `low`: successes only ever raise it.
    spdlog::info("train: the tokenizer corpus supports {} pieces, not {}; the model's vocabulary follows", low, setup.vocab_size);
    return low;
  }
}

}  // namespace privprobe
