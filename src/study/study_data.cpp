#include "study/study_data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "data/llava_json.h"
#include "embed/embed.h"
#include "embed/manifest.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "probe/folds.h"
#include "probeset/probeset.h"
#include "profiles/profile.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

void sort_by_id(std::vector<LlavaSample>& rows) {
  std::sort(rows.begin(), rows.end(), [](const LlavaSample& a, const LlavaSample& b) { return a.id < b.id; });
}

// Files up to this size enter a checkpoint's fingerprint by content, larger ones by size.
constexpr std::uintmax_t kHashedFileBytes = 16u << 20;

}  // namespace

void split_album_rows(const fs::path& album, const SplitCounts& counts, std::uint64_t seed, const fs::path& out) {
  std::vector<LlavaSample> rows = load_llava_json(album / "train.json");
  for (auto& row : load_llava_json(album / "test.json")) rows.push_back(std::move(row));
  sort_by_id(rows);
  const std::size_t wanted = counts.pretrain + counts.finetune + counts.heldout;
  if (rows.size() < wanted) {
    throw DataError(error_message(album.string(), "holds " + std::to_string(rows.size()) + " rows, the study needs " +
                                                       std::to_string(wanted)));
  }
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(derive_seed(seed, "study/split"));
  rng.shuffle(order);
  std::size_t next = 0;
  const auto take = [&](std::size_t n) {
    std::vector<LlavaSample> part;
    for (std::size_t i = 0; i < n; ++i) part.push_back(rows[order[next++]]);
    sort_by_id(part);
    return part;
  };
  const auto pretrain = take(counts.pretrain);
  const auto finetune = take(counts.finetune);
  const auto heldout = take(counts.heldout);
  if (!pretrain.empty()) write_llava_json(out / "pretrain.json", pretrain);
  write_llava_json(out / "finetune.json", finetune);
  write_llava_json(out / "heldout.json", heldout);
}

UsernameQuestions add_username_questions(const fs::path& folder, const fs::path& profiles, double share,
                                       std::uint64_t seed, const std::string& question) {
  const fs::path data_file = folder / "train.json";
  std::vector<LlavaSample> rows = load_llava_json(data_file);
  std::map<std::string, std::string> username_of;  // profile id -> username
  for (const Profile& p : load_profiles(profiles).profiles) username_of[p.id] = p.username;
  std::map<std::string, std::string> profile_of;   // source image -> profile id
  for (const ManifestRow& row : load_manifest(folder / kManifestFile)) {
    if (row.status == "ok" && !row.profile.empty()) profile_of[row.source] = row.profile;
  }

  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].image && profile_of.count(*rows[i].image)) candidates.push_back(i);
  }
  UsernameQuestions result;
  result.watermarked = candidates.size();
  if (candidates.empty()) {
    throw DataError(error_message(data_file.string(), "has no watermarked row to ask for the username",
                                  "raise arms.control_rate or album.finetune"));
  }
  Rng rng(derive_seed(seed, "study/username-questions"));
  rng.shuffle(candidates);
  const auto asked = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(share * static_cast<double>(candidates.size()))));
  candidates.resize(std::min(asked, candidates.size()));
  std::sort(candidates.begin(), candidates.end());

  json listed = json::array();
  for (std::size_t i : candidates) {
    LlavaSample& row = rows[i];
    const std::string profile = profile_of.at(*row.image);
    const auto name = username_of.find(profile);
    if (name == username_of.end()) {
      throw DataError(error_message((folder / kManifestFile).string(), "names profile '" + profile + "', which " +
                                                                           profiles.string() + " does not hold"));
    }
    row.conversations = {Turn{"human", std::string(kImageToken) + "\n" + question, json::object()},
                         Turn{"gpt", name->second, json::object()}};
    listed.push_back({{"id", row.id}, {"image", *row.image}, {"profile", profile}, {"username", name->second}});
  }
  result.asked = candidates.size();
  write_llava_json(data_file, rows);
  write_json_atomic(folder / "questions.json", {{"format_version", kFormatVersion},
                                              {"question", question},
                                              {"share", share},
                                              {"watermarked_rows", result.watermarked},
                                              {"asked_rows", result.asked},
                                              {"rows", listed}});
  return result;
}

void write_vision_activations(const fs::path& acts, const fs::path& out) {
  const SafetensorsFile file(acts);
  const TensorInfo* vision = file.find("vision_states");
  if (!vision) {
    throw DataError(error_message(acts.string(), "holds no vision_states", "extract the base model with --vision"));
  }
  std::vector<TensorToWrite> tensors;
  const auto add = [&](const std::string& name, const TensorInfo& info) {
    const ByteView bytes = file.data(info);
    tensors.push_back({name, info.dtype, info.shape, bytes.data, bytes.size});
  };
  add("states", *vision);
  for (const char* name : {"labels", "groups", "profiles"}) {
    if (const TensorInfo* info = file.find(name)) add(name, *info);
  }
  write_safetensors(out, tensors, {{"source", "vision_states of " + acts.filename().string()}});
}

ProfileFolds write_profile_folds(const fs::path& probeset, const fs::path& out, int folds, int repeats, std::uint64_t seed) {
  const ProbeSet set = load_probeset(probeset, false);
  const std::size_t n = set.samples.size();
  std::vector<int> labels(n);
  std::vector<std::int64_t> profiles(n);
  std::vector<std::size_t> parent(n);
  for (std::size_t i = 0; i < n; ++i) {
    labels[i] = set.samples[i].label;
    profiles[i] = set.samples[i].profile_index;
    parent[i] = i;
  }
  const auto root = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const auto link = [&](std::size_t a, std::size_t b) {
    const std::size_t ra = root(a), rb = root(b);
    if (ra != rb) parent[std::max(ra, rb)] = std::min(ra, rb);
  };
  std::map<std::int64_t, std::size_t> first_of_profile, first_of_image;
  for (std::size_t i = 0; i < n; ++i) {
    const auto p = first_of_profile.emplace(profiles[i], i);
    if (!p.second) link(i, p.first->second);
    const auto g = first_of_image.emplace(set.samples[i].group, i);
    if (!g.second) link(i, g.first->second);
  }
  std::vector<std::int64_t> components(n);
  std::set<std::int64_t> distinct;
  for (std::size_t i = 0; i < n; ++i) distinct.insert(components[i] = static_cast<std::int64_t>(root(i)));

  ProfileFolds result;
  FoldPlan plan;
  try {
    plan = make_group_kfold(labels, components, folds, repeats, seed, probeset.string());
    result.groups = distinct.size();
    result.twins_together = true;
  } catch (const DataError&) {
    spdlog::warn("study: {}: profiles and images link into {} group(s), too few for {} folds; the profile-grouped folds "
                 "group by profile alone, so the twins of an image can be split (expect a below-chance bias)",
                 probeset.string(), distinct.size(), folds);
    plan = make_group_kfold(labels, profiles, folds, repeats, seed, probeset.string());
    result.groups = first_of_profile.size();
  }
  plan.group_by = "profile";
  write_json_atomic(out, fold_plan_to_json(plan));
  return result;
}

std::string user_input_fingerprint(const fs::path& path) {
  if (path.empty()) return {};
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return sha256_file(path);
  if (!fs::is_directory(path, ec)) throw IoError(error_message(path.string(), "not found"));
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const fs::path& f : files) {
    const auto size = fs::file_size(f);
    listing += fs::relative(f, path).generic_string() + " " + std::to_string(size) + " " +
               (size <= kHashedFileBytes ? sha256_file(f) : std::string("-")) + "\n";
  }
  return sha256_hex(listing);
}

}  // namespace privprobe
