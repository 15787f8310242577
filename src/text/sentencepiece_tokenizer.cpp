#include "text/sentencepiece_tokenizer.h"

#include <algorithm>

#include "text/sentencepiece_core.h"
#include "util/error.h"

namespace privprobe {

namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

SentencePieceTokenizer SentencePieceTokenizer::load(const std::filesystem::path& path) {
  return SentencePieceTokenizer(read_sentencepiece_model(path), path.string());
}

SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceModel model, std::string source)
    : core_(std::make_shared<const SentencePieceCore>(std::move(model), std::move(source))) {
  const SentencePieceTrainerSpec& trainer = core_->model().trainer;
  bos_id_ = core_->control_id(trainer.bos_piece);
  eos_id_ = core_->control_id(trainer.eos_piece);
  pad_id_ = core_->control_id(trainer.pad_piece);
}

const SentencePieceModel& SentencePieceTokenizer::model() const { return core_->model(); }
const std::string& SentencePieceTokenizer::source() const { return core_->source(); }
int SentencePieceTokenizer::model_size() const { return core_->size(); }
int SentencePieceTokenizer::unk_id() const { return core_->unk_id(); }

int SentencePieceTokenizer::vocab_size() const {
  int size = core_->size();
  for (const AddedToken& token : added_) size = std::max(size, token.id + 1);
  return size;
}

const AddedToken* SentencePieceTokenizer::added_by_id(int id) const {
  for (const AddedToken& token : added_) {
    if (token.id == id) return &token;
  }
  return nullptr;
}

const std::string& SentencePieceTokenizer::piece(int id) const {
  if (id >= 0 && id < core_->size()) return core_->model().pieces[static_cast<std::size_t>(id)].piece;
  if (const AddedToken* token = added_by_id(id)) return token->content;
  throw DataError(error_message(source(), "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                              std::to_string(vocab_size())));
}

std::optional<int> SentencePieceTokenizer::id_of(std::string_view piece_text) const {
  for (const AddedToken& token : added_) {
    if (token.content == piece_text) return token.id;
  }
  const int id = core_->find_piece(piece_text);
  if (id >= 0) return id;
  return std::nullopt;
}

int SentencePieceTokenizer::require_id(std::string_view token) const {
  if (const auto id = id_of(token)) return *id;
  throw DataError(error_message(source(), "the tokenizer has no token '" + std::string(token) + "'",
                                "a LLaVA tokenizer needs it as a user-defined piece or in added_tokens.json"));
}

bool SentencePieceTokenizer::is_control(int id) const {
  return id >= 0 && id < core_->size() && core_->type(id) == PieceType::kControl;
}

void SentencePieceTokenizer::set_bos_id(int id) {
  if (id != -1) piece(id);  // range check
  bos_id_ = id;
}

void SentencePieceTokenizer::set_eos_id(int id) {
  if (id != -1) piece(id);
  eos_id_ = id;
}

void SentencePieceTokenizer::set_pad_id(int id) {
  if (id != -1) piece(id);
  pad_id_ = id;
}

void SentencePieceTokenizer::add_token(const AddedToken& token) {
  const auto fail = [&](const std::string& what) {
    throw DataError(error_message(source(), "added token '" + token.content + "' (id " + std::to_string(token.id) +
                                                ") " + what));
  };
  if (token.content.empty()) fail("is empty");
  if (token.id < 0) fail("has a negative id");
  for (const AddedToken& existing : added_) {
    if (existing.id == token.id && existing.content == token.content) return;  // listed in two files
    if (existing.id == token.id) fail("reuses the id of '" + existing.content + "'");
    if (existing.content == token.content) fail("is already added with id " + std::to_string(existing.id));
  }
  if (token.id < core_->size() && core_->model().pieces[static_cast<std::size_t>(token.id)].piece != token.content) {
    fail("disagrees with the model, whose piece " + std::to_string(token.id) + " is '" +
         core_->model().pieces[static_cast<std::size_t>(token.id)].piece + "'");
  }
  added_.push_back(token);
}

std::vector<SentencePieceTokenizer::Segment> SentencePieceTokenizer::split_on_added(std::string_view text) const {
  std::vector<Segment> segments;
  std::size_t start = 0;  // start of the current plain-text stretch
  std::size_t pos = 0;
  bool strip_leading = false;  // the previous added token swallows whitespace after it
  const auto push_text = [&](std::size_t begin, std::size_t end, bool strip_trailing) {
    std::string_view stretch = text.substr(begin, end - begin);
    if (strip_leading) {
      while (!stretch.empty() && is_ascii_space(stretch.front())) stretch.remove_prefix(1);
    }
    if (strip_trailing) {
      while (!stretch.empty() && is_ascii_space(stretch.back())) stretch.remove_suffix(1);
    }
    if (!stretch.empty()) segments.push_back({stretch, -1});
  };
  while (pos < text.size()) {
    int best = -1;
    std::size_t best_length = 0;
    if (!added_.empty()) {
      for (std::size_t i = 0; i < added_.size(); ++i) {
        const std::string& content = added_[i].content;
        if (content.size() > best_length && text.compare(pos, content.size(), content) == 0) {
          best = static_cast<int>(i);
          best_length = content.size();
        }
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    push_text(start, pos, added_[static_cast<std::size_t>(best)].lstrip);
    segments.push_back({text.substr(pos, best_length), best});
    strip_leading = added_[static_cast<std::size_t>(best)].rstrip;
    pos += best_length;
    start = pos;
  }
  push_text(start, text.size(), false);
  return segments;
}

std::vector<int> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  if (added_.empty()) {
    core_->encode(text, true, ids);
    return ids;
  }
  for (const Segment& segment : split_on_added(text)) {
    if (segment.added_index >= 0) {
      ids.push_back(added_[static_cast<std::size_t>(segment.added_index)].id);
    } else {
      // Non-legacy: the dummy prefix only at the start of the text (Hugging Face prepends one "▁"
      // to the whole text, not to each stretch between added tokens).
      core_->encode(segment.text, legacy_ || segment.text.data() == text.data(), ids);
    }
  }
  return ids;
}

std::vector<std::string> SentencePieceTokenizer::encode_as_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  for (const int id : encode(text)) pieces.push_back(piece(id));
  return pieces;
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  std::size_t start = 0;
  bool first_stretch = true;
  const auto flush = [&](std::size_t end) {
    if (end > start) {
      text += core_->decode(ids.data() + start, end - start, legacy_ || first_stretch);
      first_stretch = false;
    }
  };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const int id = ids[i];
    if (id >= 0 && id < core_->size()) continue;
    const AddedToken* token = added_by_id(id);
    if (!token) {
      throw DataError(error_message(source(), "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                                  std::to_string(vocab_size())));
    }
    flush(i);
    text += token->content;
    first_stretch = false;
    start = i + 1;
  }
  flush(ids.size());
  return text;
}

}  // namespace privprobe
