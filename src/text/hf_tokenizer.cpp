#include "text/hf_tokenizer.h"

#include <cerrno>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw FormatError(error_message(file.string(), what));
}

// Adds a token, turning a conflict into a FormatError that names the file.
void add_from_file(SentencePieceTokenizer& tokenizer, const AddedToken& token, const fs::path& file) {
  try {
    tokenizer.add_token(token);
  } catch (const DataError& e) {
    bad(file, e.what());
  }
}

void read_added_tokens_json(SentencePieceTokenizer& tokenizer, const fs::path& file) {
  const json root = read_json(file);
  if (!root.is_object()) bad(file, "expected a JSON object {\"token\": id}");
  for (const auto& [content, id] : root.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX) {
      bad(file, "token '" + content + "' must map to a non-negative integer id");
    }
    add_from_file(tokenizer, {content, static_cast<int>(id.get<std::int64_t>())}, file);
  }
}

bool optional_bool(const json& object, const char* key, bool fallback, const fs::path& file) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad(file, std::string("field '") + key + "' must be true or false");
  return it->get<bool>();
}

void read_added_tokens_decoder(SentencePieceTokenizer& tokenizer, const json& decoder, const fs::path& file) {
  if (!decoder.is_object()) bad(file, "'added_tokens_decoder' must be an object keyed by token id");
  for (const auto& [key, entry] : decoder.items()) {
    const std::string where = "added_tokens_decoder[\"" + key + "\"]";
    errno = 0;
    char* end = nullptr;
    const long id = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || errno != 0 || id < 0 || id > INT32_MAX) bad(file, where + ": key is not a token id");
    if (!entry.is_object()) bad(file, where + " must be an object");
    const auto content = entry.find("content");
    if (content == entry.end() || !content->is_string()) bad(file, where + " has no string 'content'");
    AddedToken token{content->get<std::string>(), static_cast<int>(id)};
    token.lstrip = optional_bool(entry, "lstrip", false, file);
    token.rstrip = optional_bool(entry, "rstrip", false, file);
    add_from_file(tokenizer, token, file);
  }
}

// "bos_token": "<s>" or {"content": "<s>", ...} or null.
void resolve_special(SentencePieceTokenizer& tokenizer, const json& config, const char* key, const fs::path& file,
                     void (SentencePieceTokenizer::*setter)(int)) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return;
  std::string name;
  if (it->is_string()) {
    name = it->get<std::string>();
  } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    name = (*it)["content"].get<std::string>();
  } else {
    bad(file, std::string("field '") + key + "' must be a token string or {\"content\": ...}");
  }
  const auto id = tokenizer.id_of(name);
  if (!id) bad(file, std::string("field '") + key + "' names '" + name + "', which the tokenizer does not have");
  (tokenizer.*setter)(*id);
}

void read_tokenizer_config(SentencePieceTokenizer& tokenizer, const fs::path& file) {
  const json config = read_json(file);
  if (!config.is_object()) bad(file, "expected a JSON object");
  if (const auto it = config.find("tokenizer_class"); it != config.end() && !it->is_null()) {
    if (!it->is_string()) bad(file, "field 'tokenizer_class' must be a string");
    const std::string name = it->get<std::string>();
    if (name.rfind("Llama", 0) != 0 && name.rfind("CodeLlama", 0) != 0) {
      throw FormatError(error_message(file.string(), "tokenizer_class '" + name + "' is not supported",
                                      "privprobe reads Llama-family SentencePiece tokenizers"));
    }
  }
  if (const auto it = config.find("added_tokens_decoder"); it != config.end() && !it->is_null()) {
    read_added_tokens_decoder(tokenizer, *it, file);
  }
  tokenizer.set_legacy(optional_bool(config, "legacy", true, file));
  tokenizer.set_add_bos_token(optional_bool(config, "add_bos_token", tokenizer.add_bos_token(), file));
  tokenizer.set_add_eos_token(optional_bool(config, "add_eos_token", tokenizer.add_eos_token(), file));
  resolve_special(tokenizer, config, "bos_token", file, &SentencePieceTokenizer::set_bos_id);
  resolve_special(tokenizer, config, "eos_token", file, &SentencePieceTokenizer::set_eos_id);
  resolve_special(tokenizer, config, "pad_token", file, &SentencePieceTokenizer::set_pad_id);
}

}  // namespace

SentencePieceTokenizer load_hf_tokenizer(const fs::path& folder) {
  const fs::path model_file = folder / "tokenizer.model";
  std::error_code ec;
  if (!fs::is_regular_file(model_file, ec)) {
    const fs::path json_file = folder / "tokenizer.json";
    if (fs::is_regular_file(json_file, ec)) {
      throw FormatError(error_message(json_file.string(),
                                      "tokenizers shipped only as tokenizer.json are not supported",
                                      "privprobe reads SentencePiece models: add the checkpoint's tokenizer.model"));
    }
    throw IoError(error_message(model_file.string(), "no tokenizer.model in the checkpoint folder"));
  }
  SentencePieceTokenizer tokenizer = SentencePieceTokenizer::load(model_file);
  if (const fs::path file = folder / "added_tokens.json"; fs::is_regular_file(file, ec)) {
    read_added_tokens_json(tokenizer, file);
  }
  if (const fs::path file = folder / "tokenizer_config.json"; fs::is_regular_file(file, ec)) {
    read_tokenizer_config(tokenizer, file);
  }
  return tokenizer;
}

}  // namespace privprobe
