// `privprobe profiles`: generate synthetic profiles, disjoint from other sets and optionally
// length-matched to one (same count, each username with as many characters as its counterpart).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "profiles/profile.h"

namespace privprobe {

// Generated capture times lie in [kCaptureTimeFirst, kCaptureTimeLast], ages in [kAgeMin, kAgeMax].
inline constexpr const char* kCaptureTimeFirst = "2019-01-01 00:00:00";
inline constexpr const char* kCaptureTimeLast = "2025-12-31 23:59:59";
inline constexpr int kAgeMin = 18;
inline constexpr int kAgeMax = 80;
// The name tables make about 23,000 distinct names; a set this large still draws freely.
inline constexpr std::size_t kMaxProfileCount = 10000;

struct ProfilesConfig {
  std::size_t count = 20;
  bool count_explicit = false;  // set when the user gave --count: with `match`, the counts must agree
  std::uint64_t seed = 0;
  std::filesystem::path out;
  std::vector<std::filesystem::path> exclude;  // sets to stay disjoint from (username, user_id)
  std::filesystem::path match;                 // set to length-match, empty for none
  std::string id_prefix = "p";                 // ids are <prefix><4-digit index>, e.g. p0007

  void validate() const;  // throws ConfigError (also requires `out`)
};

// Pure generation (no files): excluded and match sets are passed in already loaded. The result is
// disjoint from every excluded set and from the match set (usernames case-insensitively, user_ids),
// and never repeats a username or user_id. With a match set: as many profiles as it has, the i-th
// username with as many characters as its i-th. Throws ConfigError for bad settings, DataError
// when no unused name of a required length is left.
std::vector<Profile> generate_profiles(const ProfilesConfig& config, const std::vector<ProfileSet>& excluded,
                                       const ProfileSet* match);

// Loads --exclude / --match files, generates, writes config.out. Returns the profiles.
std::vector<Profile> run_profiles(const ProfilesConfig& config);

}  // namespace privprobe
