// Profile generation. One generator, seeded from the run's seed, draws every field in a fixed
// order, so the same seed gives the same bytes. Uniqueness and disjointness are kept with sets of
// taken usernames (case-insensitive) and user_ids.
#include "profiles/generate.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <unordered_set>
#include <utility>

#include "profiles/name_tables.h"
#include "profiles/profile_format.h"
#include "util/error.h"
#include "util/rng.h"

namespace fs = std::filesystem;

namespace privprobe {

namespace {

// Draws from the profile's own culture first, then from any culture, before enumerating every
// name: random draws keep the usual name distribution, enumeration proves a length impossible.
constexpr int kHomeCultureTries = 64;
constexpr int kAnyCultureTries = 512;
constexpr int kUserIdTries = 1000;

struct TakenNames {
  std::unordered_set<std::string> usernames;  // username_key()
  std::unordered_set<std::int64_t> user_ids;

  void add(const Profile& p) {
    usernames.insert(username_key(p.username));
    user_ids.insert(p.user_id);
  }
};

std::string draw_gender(Rng& rng) {
  // Weighted like a population that reports mostly female or male, with a visible non-binary share.
  const std::uint64_t r = rng.below(100);
  return r < 46 ? "Female" : r < 92 ? "Male" : "Non-binary";
}

std::string draw_name_in(Rng& rng, const NameCulture& culture, bool female) {
  const std::string& given = rng.pick(female ? culture.female_given : culture.male_given);
  const std::size_t family_index = static_cast<std::size_t>(rng.below(culture.family.size()));
  return culture.full_name(given, family_index, female);
}

// Calls fn(name) for every name the tables make with the female or the male given names.
template <typename Fn>
void for_each_table_name(bool female, Fn&& fn) {
  for (const NameCulture& culture : name_cultures()) {
    for (const std::string& given : female ? culture.female_given : culture.male_given) {
      for (std::size_t f = 0; f < culture.family.size(); ++f) fn(culture.full_name(given, f, female));
    }
  }
}

// Every untaken name (with the given gender's given names) of the required length.
std::vector<std::string> enumerate_names(bool female, std::optional<std::size_t> length, const TakenNames& taken) {
  std::vector<std::string> names;
  for_each_table_name(female, [&](std::string name) {
    if (length && username_length(name) != *length) return;
    if (taken.usernames.count(username_key(name))) return;
    names.push_back(std::move(name));
  });
  return names;
}

// Shortest and longest name the tables can make.
std::pair<std::size_t, std::size_t> name_length_range() {
  std::size_t lo = SIZE_MAX, hi = 0;
  for (bool female : {true, false}) {
    for_each_table_name(female, [&](const std::string& name) {
      lo = std::min(lo, username_length(name));
      hi = std::max(hi, username_length(name));
    });
  }
  return {lo, hi};
}

// A username not yet taken, agreeing with the gender, of `length` characters when given.
// `target` describes the counterpart for the error message.
std::string draw_username(Rng& rng, const std::string& gender, std::optional<std::size_t> length,
                          const TakenNames& taken, const std::string& target) {
  const bool female = gender == "Female" || (gender != "Male" && rng.bernoulli(0.5));
  auto fits = [&](const std::string& name) {
    return (!length || username_length(name) == *length) && !taken.usernames.count(username_key(name));
  };
  const auto& cultures = name_cultures();
  const NameCulture& home = rng.pick(cultures);
  for (int i = 0; i < kHomeCultureTries; ++i) {
    std::string name = draw_name_in(rng, home, female);
    if (fits(name)) return name;
  }
  for (int i = 0; i < kAnyCultureTries; ++i) {
    std::string name = draw_name_in(rng, rng.pick(cultures), female);
    if (fits(name)) return name;
  }
  // Last resort: a name of the other gender's list rather than a failed match.
  for (bool list_female : {female, !female}) {
    const std::vector<std::string> names = enumerate_names(list_female, length, taken);
    if (!names.empty()) return names[static_cast<std::size_t>(rng.below(names.size()))];
  }
  if (length) {
    const auto [min_len, max_len] = name_length_range();
    throw DataError(error_message(target, "no unused name with " + std::to_string(*length) +
                                              " characters is left in the name tables",
                                  "the generator's names have " + std::to_string(min_len) + " to " +
                                      std::to_string(max_len) + " characters"));
  }
  throw DataError(error_message(target, "every name in the tables is already taken",
                                "generate fewer profiles or exclude fewer sets"));
}

std::int64_t draw_user_id(Rng& rng, const TakenNames& taken, const std::string& target) {
  for (int i = 0; i < kUserIdTries; ++i) {
    const std::int64_t id = rng.range(1000000000LL, 9999999999LL);  // 10 digits, no leading zero
    if (!taken.user_ids.count(id)) return id;
  }
  throw DataError(error_message(target, "could not draw an unused user_id"));
}

std::int64_t parse_capture_time(const char* text) {
  int y, mo, d, h, mi, s;
  std::sscanf(text, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &s);
  return capture_time_seconds(y, mo, d, h, mi, s);
}

std::string make_id(const std::string& prefix, std::size_t index) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%04zu", index);
  return prefix + digits;
}

void validate_generation(const ProfilesConfig& config) {
  for (char ch : config.id_prefix) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '-' || ch == '.';
    if (!ok) {
      throw ConfigError(error_message("--id-prefix '" + config.id_prefix + "'", "contains a character other than "
                                      "letters, digits, '_', '-' and '.'"));
    }
  }
  if (config.id_prefix.size() > 32) throw ConfigError(error_message("--id-prefix", "longer than 32 characters"));
  if (config.match.empty() || config.count_explicit) {
    if (config.count < 1 || config.count > kMaxProfileCount) {
      throw ConfigError(error_message("--count " + std::to_string(config.count),
                                      "must be between 1 and " + std::to_string(kMaxProfileCount)));
    }
  }
}

}  // namespace

void ProfilesConfig::validate() const {
  validate_generation(*this);
  if (out.empty()) throw ConfigError(error_message("--out", "an output file is required"));
}

std::vector<Profile> generate_profiles(const ProfilesConfig& config, const std::vector<ProfileSet>& excluded,
                                       const ProfileSet* match) {
  validate_generation(config);
  std::size_t count = config.count;
  if (match) {
    if (config.count_explicit && config.count != match->profiles.size()) {
      throw ConfigError(error_message("--count " + std::to_string(config.count),
                                      "disagrees with --match " + match->source.string() + ", which has " +
                                          std::to_string(match->profiles.size()) + " profiles",
                                      "omit --count with --match"));
    }
    count = match->profiles.size();
  }

  TakenNames taken;
  for (const ProfileSet& set : excluded) {
    for (const Profile& p : set.profiles) taken.add(p);
  }
  if (match) {
    for (const Profile& p : match->profiles) taken.add(p);
  }

  const std::int64_t first_time = parse_capture_time(kCaptureTimeFirst);
  const std::int64_t last_time = parse_capture_time(kCaptureTimeLast);
  const auto& cities = city_table();
  Rng rng(derive_seed(config.seed, "profiles"));
  std::vector<Profile> profiles;
  profiles.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Profile p;
    p.id = make_id(config.id_prefix, i + 1);
    p.gender = draw_gender(rng);
    std::optional<std::size_t> length;
    std::string target = "profile " + p.id;
    if (match) {
      const Profile& counterpart = match->profiles[i];
      length = username_length(counterpart.username);
      target = match->source.string() + ", profile " + counterpart.id + " ('" + counterpart.username + "')";
    }
    p.username = draw_username(rng, p.gender, length, taken, target);
    p.user_id = draw_user_id(rng, taken, target);
    p.age = static_cast<int>(rng.range(kAgeMin, kAgeMax));
    p.capture_time = format_capture_time(rng.range(first_time, last_time));
    p.capture_location = rng.pick(cities).location();
    taken.add(p);
    profiles.push_back(std::move(p));
  }
  return profiles;
}

std::vector<Profile> run_profiles(const ProfilesConfig& config) {
  config.validate();
  // Writing over an input would silently destroy the set we are meant to stay disjoint from.
  auto same_file = [&](const fs::path& input) {
    std::error_code ec_in, ec_out;
    const fs::path a = fs::weakly_canonical(input, ec_in);
    const fs::path b = fs::weakly_canonical(config.out, ec_out);
    return !ec_in && !ec_out && a == b;
  };
  std::vector<ProfileSet> excluded;
  for (const fs::path& path : config.exclude) {
    if (same_file(path)) {
      throw ConfigError(error_message("--out " + config.out.string(), "is also an --exclude file"));
    }
    excluded.push_back(load_profiles(path));
  }
  std::optional<ProfileSet> match;
  if (!config.match.empty()) {
    if (same_file(config.match)) {
      throw ConfigError(error_message("--out " + config.out.string(), "is also the --match file"));
    }
    match = load_profiles(config.match);
  }
  std::vector<Profile> profiles = generate_profiles(config, excluded, match ? &*match : nullptr);
  write_profiles(config.out, profiles);
  return profiles;
}

}  // namespace privprobe
