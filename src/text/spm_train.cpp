#include "text/spm_train.h"

#include <fstream>
#include <sstream>

#include "text/subprocess.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {

namespace fs = std::filesystem;

void SpmTrainConfig::validate() const {
  const auto fail = [](const std::string& what) { throw ConfigError(error_message("spm_train", what)); };
  if (corpus.empty()) fail("no corpus file given");
  if (output.empty()) fail("no output path given");
  if (model_type != SentencePieceAlgorithm::kBpe && model_type != SentencePieceAlgorithm::kUnigram) {
    fail("model type must be BPE or unigram");
  }
  const int minimum = 4 + static_cast<int>(user_defined_symbols.size()) + 256 + 1;
  if (vocab_size < minimum) {
    fail("vocab_size " + std::to_string(vocab_size) + " is below the " + std::to_string(minimum) +
         " special, user-defined and byte pieces plus one");
  }
  for (const std::string& symbol : user_defined_symbols) {
    // spm_train takes the list comma-separated, so a comma cannot be part of a symbol.
    if (symbol.empty() || symbol.find(',') != std::string::npos) {
      fail("user-defined symbol '" + symbol + "' must be non-empty and contain no comma");
    }
  }
  if (!(character_coverage > 0.0 && character_coverage <= 1.0)) fail("character_coverage must be in (0, 1]");
}

bool spm_train_available(const std::string& program) { return !find_program(program).empty(); }

namespace {

std::string last_line_of(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Removes the private training folder however training ends.
struct ScratchFolder {
  fs::path path;
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

fs::path train_sentencepiece(const SpmTrainConfig& config) {
  config.validate();
  if (find_program(config.program).empty()) {
    throw IoError(error_message(config.program, "program not found in PATH",
                                "install Debian's 'sentencepiece' package, or let privprobe write the model"));
  }
  const fs::path output = fs::absolute(config.output);
  if (output.has_parent_path()) fs::create_directories(output.parent_path());
  ScratchFolder scratch{temp_path_for(output)};
  fs::create_directories(scratch.path);
  // A private copy under a fixed name keeps the recorded input path independent of the caller's.
  write_file_atomic(scratch.path / "corpus.txt", read_file(config.corpus));

  std::ostringstream coverage;
  coverage.precision(17);
  coverage << config.character_coverage;
  std::string user_defined;
  for (const std::string& symbol : config.user_defined_symbols) {
    user_defined += (user_defined.empty() ? "" : ",") + symbol;
  }
  ProcessSpec process;
  process.argv = {config.program,
                  "--input=corpus.txt",
                  "--model_prefix=tokenizer",
                  "--vocab_size=" + std::to_string(config.vocab_size),
                  std::string("--model_type=") +
                      (config.model_type == SentencePieceAlgorithm::kBpe ? "bpe" : "unigram"),
                  "--byte_fallback=true",
                  "--normalization_rule_name=identity",
                  std::string("--remove_extra_whitespaces=") + (config.remove_extra_whitespaces ? "true" : "false"),
                  "--character_coverage=" + coverage.str(),
                  "--unk_id=" + std::to_string(kSpmUnkId),
                  "--bos_id=" + std::to_string(kSpmBosId),
                  "--eos_id=" + std::to_string(kSpmEosId),
                  "--pad_id=" + std::to_string(kSpmPadId),
                  "--num_threads=1",
                  "--input_sentence_size=0",
                  "--shuffle_input_sentence=false",
                  "--random_seed=" + std::to_string(config.seed),
                  "--minloglevel=1"};
  if (!user_defined.empty()) process.argv.push_back("--user_defined_symbols=" + user_defined);
  process.working_dir = scratch.path;
  process.stdout_file = scratch.path / "spm_train.log";
  process.stderr_file = scratch.path / "spm_train.err";
  const int status = run_process(process);
  const fs::path model = scratch.path / "tokenizer.model";
  std::error_code ec;
  if (status != 0 || !fs::is_regular_file(model, ec)) {
    std::string reason = last_line_of(process.stderr_file);
    if (reason.empty()) reason = last_line_of(process.stdout_file);
    throw DataError(error_message(config.corpus.string(),
                                  "spm_train failed (exit status " + std::to_string(status) + ")" +
                                      (reason.empty() ? "" : ": " + reason)));
  }
  commit_rename(model, output);
  return config.output;
}

}  // namespace privprobe
