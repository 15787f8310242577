// `privprobe profiles`: generate synthetic profiles, disjoint from other sets and optionally
// length-matched to one (same count, each username with as many characters as its counterpart).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "profiles/profile.h"

namespace privprobe {

struct ProfilesConfig {
  std::size_t count = 20;
  std::uint64_t seed = 0;
  std::filesystem::path out;
  std::vector<std::filesystem::path> exclude;  // sets to stay disjoint from (username, user_id)
  std::filesystem::path match;                 // set to length-match, empty for none
  std::string id_prefix = "p";                 // ids are <prefix><4-digit index>, e.g. p0007

  void validate() const;  // throws ConfigError
};

// Pure generation (no files): excluded and match sets are passed in already loaded.
std::vector<Profile> generate_profiles(const ProfilesConfig& config, const std::vector<ProfileSet>& excluded,
                                       const ProfileSet* match);

// Loads --exclude / --match files, generates, writes config.out. Returns the profiles.
std::vector<Profile> run_profiles(const ProfilesConfig& config);

}  // namespace privprobe
