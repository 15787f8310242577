// Profile generation: determinism, formats, uniqueness, disjointness (--exclude) and length
// matching (--match), and the name and city tables behind them.
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "profiles/generate.h"
#include "profiles/name_tables.h"
#include "profiles/profile_format.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace privprobe;

namespace {

template <typename E>
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

ProfilesConfig config_with(std::size_t count, std::uint64_t seed) {
  ProfilesConfig config;
  config.count = count;
  config.seed = seed;
  return config;
}

ProfileSet as_set(std::vector<Profile> profiles, const std::string& source = "given.jsonl") {
  ProfileSet set;
  set.source = source;
  set.profiles = std::move(profiles);
  return set;
}

// A set whose usernames have the given lengths and are not names the tables can make.
ProfileSet set_with_lengths(const std::vector<std::size_t>& lengths) {
  std::vector<Profile> profiles;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    Profile p{std::to_string(i + 1), "", static_cast<std::int64_t>(1000000000 + i), "Female", 30,
              "2020-01-01 00:00:00", "Lima, Peru"};
    p.username = "Q" + std::string(lengths[i] - 1, 'q');
    profiles.push_back(p);
  }
  return as_set(profiles, "lengths.jsonl");
}

void expect_disjoint(const std::vector<Profile>& generated, const ProfileSet& other) {
  std::set<std::string> names;
  std::set<std::int64_t> ids;
  for (const auto& p : other.profiles) {
    names.insert(username_key(p.username));
    ids.insert(p.user_id);
  }
  for (const auto& p : generated) {
    EXPECT_EQ(names.count(username_key(p.username)), 0u) << p.username;
    EXPECT_EQ(ids.count(p.user_id), 0u) << p.user_id;
  }
}

TEST(GenerateProfiles, SameSeedSameBytesOtherSeedOtherBytes) {
  test::TempDir dir("profiles-gen");
  ProfilesConfig config = config_with(50, 7);
  config.out = dir / "a.jsonl";
  run_profiles(config);
  config.out = dir / "b.jsonl";
  run_profiles(config);
  EXPECT_EQ(read_file(dir / "a.jsonl"), read_file(dir / "b.jsonl"));
  config.seed = 8;
  config.out = dir / "c.jsonl";
  run_profiles(config);
  EXPECT_NE(read_file(dir / "a.jsonl"), read_file(dir / "c.jsonl"));
  EXPECT_EQ(load_profiles(dir / "a.jsonl").profiles.size(), 50u);
}

TEST(GenerateProfiles, CountsAndIds) {
  for (std::size_t n : {1u, 20u, 137u}) {
    const auto profiles = generate_profiles(config_with(n, 1), {}, nullptr);
    ASSERT_EQ(profiles.size(), n);
    EXPECT_EQ(profiles.front().id, "p0001");
    char last[16];
    std::snprintf(last, sizeof last, "p%04zu", n);
    EXPECT_EQ(profiles.back().id, last);
  }
  ProfilesConfig config = config_with(3, 1);
  config.id_prefix = "u2_";
  EXPECT_EQ(generate_profiles(config, {}, nullptr)[2].id, "u2_0003");
}

TEST(GenerateProfiles, FieldFormatsAndRanges) {
  const auto profiles = generate_profiles(config_with(2000, 11), {}, nullptr);
  const std::regex username_re("[A-Z][A-Za-z]*(['-][A-Za-z]+)*( [A-Z][A-Za-z]*(['-][A-Za-z]+)*)+");
  const std::regex time_re("\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}");
  const std::regex location_re("[A-Z][A-Za-z .'-]*, [A-Z][A-Za-z .'-]*");
  std::set<std::string> locations;
  for (const auto& city : city_table()) locations.insert(city.location());
  std::map<std::string, int> genders;
  int min_age = 1000, max_age = 0;
  for (const auto& p : profiles) {
    EXPECT_TRUE(std::regex_match(p.username, username_re)) << p.username;
    EXPECT_GE(p.user_id, 1000000000LL);
    EXPECT_LE(p.user_id, 9999999999LL);
    EXPECT_EQ(p.field("user_id").size(), 10u);
    ++genders[p.gender];
    EXPECT_GE(p.age, kAgeMin);
    EXPECT_LE(p.age, kAgeMax);
    min_age = std::min(min_age, p.age);
    max_age = std::max(max_age, p.age);
    EXPECT_TRUE(std::regex_match(p.capture_time, time_re)) << p.capture_time;
    EXPECT_TRUE(is_valid_capture_time(p.capture_time)) << p.capture_time;
    EXPECT_GE(p.capture_time, std::string(kCaptureTimeFirst));
    EXPECT_LE(p.capture_time, std::string(kCaptureTimeLast));
    EXPECT_TRUE(std::regex_match(p.capture_location, location_re)) << p.capture_location;
    EXPECT_EQ(locations.count(p.capture_location), 1u) << p.capture_location;
  }
  EXPECT_EQ(min_age, kAgeMin);  // 2000 uniform draws over 63 ages reach both ends
  EXPECT_EQ(max_age, kAgeMax);
  ASSERT_EQ(genders.size(), 3u);
  EXPECT_GT(genders["Female"], 700);
  EXPECT_GT(genders["Male"], 700);
  EXPECT_GT(genders["Non-binary"], 80);
}

TEST(GenerateProfiles, NeverRepeatsUsernamesOrUserIds) {
  const auto profiles = generate_profiles(config_with(2000, 3), {}, nullptr);
  std::set<std::string> names;
  std::set<std::int64_t> ids;
  for (const auto& p : profiles) {
    EXPECT_TRUE(names.insert(username_key(p.username)).second) << "repeated " << p.username;
    EXPECT_TRUE(ids.insert(p.user_id).second) << "repeated " << p.user_id;
  }
}

TEST(GenerateProfiles, NamesComeFromEveryCulture) {
  std::vector<std::set<std::string>> culture_names;
  for (const auto& culture : name_cultures()) {
    std::set<std::string> names;
    for (bool female : {true, false}) {
      for (const auto& given : female ? culture.female_given : culture.male_given) {
        for (std::size_t f = 0; f < culture.family.size(); ++f) names.insert(culture.full_name(given, f, female));
      }
    }
    culture_names.push_back(std::move(names));
  }
  const auto profiles = generate_profiles(config_with(2000, 5), {}, nullptr);
  std::vector<int> hits(culture_names.size(), 0);
  for (const auto& p : profiles) {
    bool known = false;
    for (std::size_t c = 0; c < culture_names.size(); ++c) {
      if (culture_names[c].count(p.username)) {
        ++hits[c];
        known = true;
      }
    }
    EXPECT_TRUE(known) << p.username;
  }
  for (std::size_t c = 0; c < hits.size(); ++c) EXPECT_GT(hits[c], 20) << name_cultures()[c].name;
}

TEST(GenerateProfiles, ExcludingItsOwnOutputGivesADisjointSet) {
  // With the same seed, only the exclusion can make the second set differ from the first.
  const auto first = generate_profiles(config_with(300, 9), {}, nullptr);
  std::vector<Profile> shouted = first;
  for (auto& p : shouted) {
    for (char& ch : p.username) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  const ProfileSet excluded = as_set(shouted);
  const auto second = generate_profiles(config_with(300, 9), {excluded}, nullptr);
  ASSERT_EQ(second.size(), 300u);
  expect_disjoint(second, as_set(first));
}

TEST(GenerateProfiles, ExcludedUserIdsAreRedrawn) {
  // Same seed, same names would come out; only the user_ids of the excluded set are taken.
  const auto first = generate_profiles(config_with(200, 4), {}, nullptr);
  std::vector<Profile> ids_only = first;
  for (std::size_t i = 0; i < ids_only.size(); ++i) ids_only[i].username = "Excluded " + std::to_string(i);
  const auto second = generate_profiles(config_with(200, 4), {as_set(ids_only)}, nullptr);
  expect_disjoint(second, as_set(ids_only));
  EXPECT_EQ(second[0].username, first[0].username);  // names were free, so the stream starts alike
}

TEST(GenerateProfiles, ExcludesSeveralSets) {
  const auto a = generate_profiles(config_with(100, 1), {}, nullptr);
  const auto b = generate_profiles(config_with(100, 2), {}, nullptr);
  const auto c = generate_profiles(config_with(100, 1), {as_set(a), as_set(b)}, nullptr);
  expect_disjoint(c, as_set(a));
  expect_disjoint(c, as_set(b));
}

TEST(GenerateProfiles, MatchCopiesCountAndEveryUsernameLength) {
  ProfileSet target = set_with_lengths({8, 9, 11, 13, 16, 18, 6, 21, 12, 12, 10, 14, 15, 13, 9, 17, 11, 20, 7, 12});
  target.profiles[0].username = "Carlos Diaz";  // a name the tables could make must still be avoided
  ProfilesConfig config = config_with(5, 21);    // count not given explicitly: taken from the match set
  const auto profiles = generate_profiles(config, {}, &target);
  ASSERT_EQ(profiles.size(), target.profiles.size());
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    EXPECT_EQ(username_length(profiles[i].username), username_length(target.profiles[i].username))
        << profiles[i].username << " vs " << target.profiles[i].username;
  }
  expect_disjoint(profiles, target);
  config.count_explicit = true;
  config.count = target.profiles.size();
  EXPECT_EQ(generate_profiles(config, {}, &target).size(), target.profiles.size());
}

TEST(GenerateProfiles, MatchAloneStaysDisjointFromTheMatchedSet) {
  // With the same seed, the first draws would reproduce the matched names exactly.
  const auto u1 = generate_profiles(config_with(40, 1), {}, nullptr);
  const ProfileSet u1_set = as_set(u1, "u1.jsonl");
  const auto u2 = generate_profiles(config_with(1, 1), {}, &u1_set);
  ASSERT_EQ(u2.size(), u1.size());
  expect_disjoint(u2, u1_set);
}

TEST(GenerateProfiles, MatchAndExcludeTogether) {
  const auto u1 = generate_profiles(config_with(40, 1), {}, nullptr);
  const ProfileSet u1_set = as_set(u1, "u1.jsonl");
  const auto u2 = generate_profiles(config_with(1, 1), {u1_set}, &u1_set);
  expect_disjoint(u2, u1_set);
  ASSERT_EQ(u2.size(), u1.size());
  for (std::size_t i = 0; i < u2.size(); ++i) EXPECT_EQ(u2[i].username.size(), u1[i].username.size());
}

TEST(GenerateProfiles, MatchUsesTheRareLengthsUpToTheLastName) {
  // Few names have 5 characters ("Li Bo"...): draws fall back to enumerating them, and once
  // they are all taken the next one is a clear error naming the counterpart.
  std::size_t five_letter = 0;
  for (const auto& culture : name_cultures()) {
    for (bool female : {true, false}) {
      for (const auto& given : female ? culture.female_given : culture.male_given) {
        for (std::size_t f = 0; f < culture.family.size(); ++f) {
          five_letter += username_length(culture.full_name(given, f, female)) == 5;
        }
      }
    }
  }
  ASSERT_GT(five_letter, 0u);
  const ProfileSet fits = set_with_lengths(std::vector<std::size_t>(five_letter, 5));
  const auto profiles = generate_profiles(config_with(1, 2), {}, &fits);
  for (const auto& p : profiles) EXPECT_EQ(p.username.size(), 5u);
  const ProfileSet too_many = set_with_lengths(std::vector<std::size_t>(five_letter + 1, 5));
  expect_error<DataError>([&] { generate_profiles(config_with(1, 2), {}, &too_many); },
                          {"lengths.jsonl", "profile " + std::to_string(five_letter + 1), "5 characters"});
}

TEST(GenerateProfiles, MatchLengthsTheTablesCannotMakeAreErrors) {
  expect_error<DataError>([] { generate_profiles(config_with(1, 2), {}, &*std::make_unique<ProfileSet>(set_with_lengths({12, 60}))); },
                          {"lengths.jsonl", "profile 2", "60 characters"});
  expect_error<DataError>([] { generate_profiles(config_with(1, 2), {}, &*std::make_unique<ProfileSet>(set_with_lengths({2}))); },
                          {"profile 1", "2 characters"});
}

TEST(GenerateProfiles, MatchWithADisagreeingCountIsAConfigError) {
  const ProfileSet target = set_with_lengths({10, 11, 12});
  ProfilesConfig config = config_with(4, 1);
  config.count_explicit = true;
  expect_error<ConfigError>([&] { generate_profiles(config, {}, &target); }, {"--count 4", "lengths.jsonl", "3 profiles"});
}

TEST(ProfilesConfigValidate, RejectsBadSettings) {
  ProfilesConfig config = config_with(0, 1);
  config.out = "x.jsonl";
  expect_error<ConfigError>([&] { config.validate(); }, {"--count 0"});
  config.count = kMaxProfileCount + 1;
  expect_error<ConfigError>([&] { config.validate(); }, {"--count"});
  config.count = 5;
  config.id_prefix = "bad prefix";
  expect_error<ConfigError>([&] { config.validate(); }, {"--id-prefix"});
  config.id_prefix = std::string(33, 'p');
  expect_error<ConfigError>([&] { config.validate(); }, {"--id-prefix"});
  config.id_prefix = "ok-prefix_1.";
  EXPECT_NO_THROW(config.validate());
  config.out.clear();
  expect_error<ConfigError>([&] { config.validate(); }, {"--out"});
  config = config_with(0, 1);
  expect_error<ConfigError>([&] { generate_profiles(config, {}, nullptr); }, {"--count 0"});
}

TEST(RunProfiles, LoadsExcludeAndMatchFiles) {
  test::TempDir dir("profiles-run");
  ProfilesConfig u1 = config_with(20, 1);
  u1.out = dir / "u1.jsonl";
  u1.id_prefix = "u1_";
  run_profiles(u1);
  ProfilesConfig u2 = config_with(20, 1);
  u2.out = dir / "u2.jsonl";
  u2.exclude = {u1.out};
  u2.match = u1.out;
  u2.id_prefix = "u2_";
  const auto written = run_profiles(u2);
  const ProfileSet u1_set = load_profiles(u1.out);
  const ProfileSet u2_set = load_profiles(u2.out);
  ASSERT_EQ(u2_set.profiles.size(), 20u);
  EXPECT_TRUE(u2_set.warnings.empty());
  expect_disjoint(u2_set.profiles, u1_set);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(u2_set.profiles[i].username.size(), u1_set.profiles[i].username.size());
    EXPECT_EQ(u2_set.profiles[i].id, written[i].id);
  }
}

TEST(RunProfiles, BadInputFilesAndOutputs) {
  test::TempDir dir("profiles-run-bad");
  ProfilesConfig config = config_with(5, 1);
  config.out = dir / "out.jsonl";
  config.exclude = {dir / "absent.jsonl"};
  expect_error<IoError>([&] { run_profiles(config); }, {"absent.jsonl"});
  test::write_text(dir / "broken.jsonl", "{\"username\": \"A B\"\n");
  config.exclude = {dir / "broken.jsonl"};
  expect_error<FormatError>([&] { run_profiles(config); }, {"broken.jsonl", "line 1"});
  config.exclude.clear();
  config.match = dir / "broken.jsonl";
  expect_error<FormatError>([&] { run_profiles(config); }, {"broken.jsonl", "line 1"});
  EXPECT_FALSE(fs::exists(config.out));
  // The output may not overwrite an input set.
  config.match.clear();
  run_profiles(config);
  const std::string before = read_file(config.out);
  config.exclude = {config.out};
  expect_error<ConfigError>([&] { run_profiles(config); }, {"--out", "--exclude"});
  config.exclude.clear();
  config.match = dir / "." / "out.jsonl";
  expect_error<ConfigError>([&] { run_profiles(config); }, {"--out", "--match"});
  EXPECT_EQ(read_file(config.out), before);
}

TEST(NameTables, ManyCulturesWithAsciiNames) {
  const auto& cultures = name_cultures();
  ASSERT_GE(cultures.size(), 12u);
  const std::regex part_re("[A-Z][a-z]*(['-][A-Za-z][a-z]*)*( [A-Z][a-z]*)*");
  std::set<std::string> culture_names;
  for (const auto& culture : cultures) {
    SCOPED_TRACE(culture.name);
    EXPECT_TRUE(culture_names.insert(culture.name).second);
    EXPECT_GE(culture.female_given.size(), 15u);
    EXPECT_GE(culture.male_given.size(), 15u);
    EXPECT_GE(culture.family.size(), 20u);
    EXPECT_TRUE(culture.family_female.empty() || culture.family_female.size() == culture.family.size());
    for (const auto* list : {&culture.female_given, &culture.male_given, &culture.family, &culture.family_female}) {
      std::set<std::string> seen;
      for (const auto& name : *list) {
        EXPECT_TRUE(std::regex_match(name, part_re)) << name;
        EXPECT_TRUE(seen.insert(name).second) << "listed twice: " << name;
      }
    }
  }
  EXPECT_EQ(cultures[2].full_name("Jisoo", 0, true), "Kim Jisoo");  // Korean: family name first
}

TEST(NameTables, InflectedSurnamesFollowTheGivenName) {
  for (const auto& culture : name_cultures()) {
    if (culture.name != "Russian") continue;
    EXPECT_EQ(culture.full_name("Ivan", 1, false), "Ivan Petrov");
    EXPECT_EQ(culture.full_name("Elena", 1, true), "Elena Petrova");
    return;
  }
  FAIL() << "no Russian names";
}

TEST(CityTable, RealPairsOnEveryContinentWithoutRepeats) {
  const auto& cities = city_table();
  EXPECT_GE(cities.size(), 150u);
  std::map<std::string, int> per_continent;
  std::set<std::string> seen;
  const std::regex name_re("[A-Z][A-Za-z .'-]*[a-z]");
  for (const auto& city : cities) {
    ++per_continent[city.continent];
    EXPECT_TRUE(seen.insert(city.location()).second) << city.location();
    EXPECT_TRUE(std::regex_match(city.city, name_re)) << city.city;
    EXPECT_TRUE(std::regex_match(city.country, name_re)) << city.country;
  }
  EXPECT_EQ(per_continent.size(), 6u);
  for (const auto& [continent, n] : per_continent) EXPECT_GE(n, 10) << continent;
}

}  // namespace
