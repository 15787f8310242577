#include "model/chat_template.h"

#include "util/error.h"

namespace privprobe {

namespace {
constexpr int64_t kIgnore = -100;
const char* kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, "
    "and polite answers to the user's questions.";

void append(std::vector<int64_t>& ids, std::vector<int64_t>& labels, const std::vector<int>& tokens, bool learn) {
  for (int t : tokens) {
    ids.push_back(t);
    labels.push_back(learn ? t : kIgnore);
  }
}

// Encodes prompt text, expanding each image token into image_tokens copies.
int append_prompt(const SentencePieceTokenizer& tokenizer, const std::string& text, const TokenizeOptions& options,
                  TokenizedInputs& out) {
  int images = 0;
  for (int token : tokenizer.encode(text)) {
    if (token == options.image_token_id) {
      if (options.image_tokens <= 0) throw DataError("prompt has <image> but the model takes no image tokens");
      for (int i = 0; i < options.image_tokens; ++i) {
        out.input_ids.push_back(token);
        out.labels.push_back(kIgnore);
      }
      ++images;
    } else {
      out.input_ids.push_back(token);
      out.labels.push_back(kIgnore);
    }
  }
  return images;
}

}  // namespace

ChatTemplate chat_template(const std::string& name) {
  if (name == "vicuna_v1") return {name, kVicunaSystem};
  if (name == "llava_hf" || name == "tiny") return {name, ""};
  throw ConfigError("unknown conversation template '" + name + "' (vicuna_v1, llava_hf, tiny)");
}

TokenizedInputs tokenize_conversation(const SentencePieceTokenizer& tokenizer, const ChatTemplate& chat,
                                      const std::vector<Turn>& turns, const TokenizeOptions& options,
                                      const std::string& where) {
  if (turns.empty() || turns.front().from != "human") {
    throw DataError(error_message(where, "conversation must start with a human turn"));
  }
  TokenizedInputs out;
  if (options.add_bos && tokenizer.bos_id() >= 0) append(out.input_ids, out.labels, {tokenizer.bos_id()}, false);
  // Only the last answer is dropped for a generation prompt.
  std::size_t end = turns.size();
  if (options.generation_prompt && turns.back().from == "gpt") --end;
  for (std::size_t i = 0; i < end; ++i) {
    const Turn& turn = turns[i];
    const bool human = i % 2 == 0;
    if ((human && turn.from != "human") || (!human && turn.from != "gpt")) {
      throw DataError(error_message(where, "turn " + std::to_string(i + 1) + " is from '" + turn.from +
                                               "'; turns must alternate human, gpt"));
    }
    if (human) {
      std::string text = (i == 0 && !chat.system.empty() ? chat.system + " " : std::string()) + chat.user_role + ": " +
                         turn.value + " " + chat.assistant_role + ":";
      out.prompt_text += text;
      out.images += append_prompt(tokenizer, text, options, out);
      out.prompt_length = out.input_ids.size();
    } else {
      // The answer follows "ASSISTANT:" after a space, which the tokenizer's dummy prefix supplies.
      out.prompt_text += " " + turn.value + "</s>";
      append(out.input_ids, out.labels, tokenizer.encode(turn.value), true);
      if (tokenizer.eos_id() >= 0) append(out.input_ids, out.labels, {tokenizer.eos_id()}, true);
    }
  }
  return out;
}

TokenizedInputs tokenize_question(const SentencePieceTokenizer& tokenizer, const ChatTemplate& chat,
                                  const std::string& question, const std::string& answer, bool with_image,
                                  const TokenizeOptions& options) {
  std::vector<Turn> turns = {{"human", (with_image ? std::string(kImageToken) + "\n" : std::string()) + question}};
  if (!answer.empty()) turns.push_back({"gpt", answer});
  return tokenize_conversation(tokenizer, chat, turns, options, "question");
}

}  // namespace privprobe
