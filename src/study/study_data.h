// The study's own small data steps between the stages: splitting the album's rows, the positive
// control's username questions, and the base model's vision states as a probe-able file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace privprobe {

struct SplitCounts {
  std::size_t pretrain = 0;
  std::size_t finetune = 0;
  std::size_t heldout = 0;
};

// Reads the synthetic album's train.json and test.json, shuffles all rows with the seed and writes
// the first counts.pretrain rows to out/pretrain.json (skipped when 0), the next counts.finetune to
// out/finetune.json and the next counts.heldout to out/heldout.json, each sorted by id. Throws
// DataError when the album holds fewer rows than asked for.
void split_album_rows(const std::filesystem::path& album, const SplitCounts& counts, std::uint64_t seed,
                      const std::filesystem::path& out);

struct UsernameQuestions {
  std::size_t watermarked = 0;  // watermarked rows of the arm
  std::size_t asked = 0;        // rows whose question now asks for the username
};

// In folder/train.json (an embed output with its manifest.jsonl), `share` of the watermarked rows
// (chosen with the seed) get `question` with the drawn profile's username as the answer: the
// positive control (U1: the private content becomes task-relevant) and the base's perception task
// (U0: pretraining learns to tell the pictures apart). Writes the rewritten train.json and
// folder/questions.json (which rows, which names). Throws DataError / FormatError naming the file.
UsernameQuestions add_username_questions(const std::filesystem::path& folder, const std::filesystem::path& profiles,
                                       double share, std::uint64_t seed, const std::string& question);

// Writes `out` with states = the extract file's vision_states (and its labels, groups, profiles),
// so `probe` can ask whether the vision tower tells the seen from the unseen pictures. Throws
// DataError naming the file when it has no vision_states.
void write_vision_activations(const std::filesystem::path& acts, const std::filesystem::path& out);

struct ProfileFolds {
  std::size_t groups = 0;       // independent groups the folds are drawn from
  bool twins_together = false;  // false: fell back to profiles alone (twins of an image may be split)
};

// The lead folds of every profile-grouped probe, comparison and membership test: stratified group
// k-fold where a group is a connected set of profiles and base images (samples sharing a profile or
// a base image are linked). Profile grouping alone would put the U1 and U2 twins of one image on
// opposite sides: the probe would learn the scene with one label and be tested on it with the
// other, and score below chance. With length-matched twins a group is one U1 profile, its U2 twin
// and their images. When the links join too much for `folds` folds, the groups fall back to
// profiles alone (and twins_together is false). Writes `out` (probe's folds.json format).
ProfileFolds write_profile_folds(const std::filesystem::path& probeset, const std::filesystem::path& out, int folds,
                                 int repeats, std::uint64_t seed);

// sha256 of a user's file for a stage key, or of a folder's small files and the sizes of large
// ones (a checkpoint); "" for an empty path.
std::string user_input_fingerprint(const std::filesystem::path& path);

}  // namespace privprobe
