// `privprobe profiles` through the binary: the file and one summary line on success, a non-zero
// exit and a one-line error naming the file for bad input.
#include <gtest/gtest.h>

#include <algorithm>

#include "profiles/profile.h"
#include "profiles/profile_format.h"
#include "support/test_support.h"
#include "util/atomic_file.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& fragment) { return text.find(fragment) != std::string::npos; }

TEST(CliProfiles, WritesTheSetAndOneSummaryLine) {
  test::TempDir dir("cli-profiles");
  const fs::path out = dir / "u1.jsonl";
  const auto result = test::run_privprobe({"profiles", "--count", "12", "--seed", "5", "--out", out.string(),
                                           "--id-prefix", "u1_"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_TRUE(contains(result.output, "12 profiles")) << result.output;
  EXPECT_TRUE(contains(result.output, out.string())) << result.output;
  const ProfileSet set = load_profiles(out);
  ASSERT_EQ(set.profiles.size(), 12u);
  EXPECT_EQ(set.profiles[0].id, "u1_0001");
  EXPECT_TRUE(set.warnings.empty());

  // Same flags, same bytes.
  const auto again = test::run_privprobe({"profiles", "--count", "12", "--seed", "5", "--out", (dir / "again.jsonl").string(),
                                          "--id-prefix", "u1_"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_file(out), read_file(dir / "again.jsonl"));
}

TEST(CliProfiles, ExcludeAndMatchMakeADisjointLengthMatchedSet) {
  test::TempDir dir("cli-profiles-match");
  const fs::path u1 = dir / "u1.jsonl";
  const fs::path u2 = dir / "u2.jsonl";
  ASSERT_EQ(test::run_privprobe({"profiles", "--count", "15", "--seed", "1", "--out", u1.string()}).exit_code, 0);
  const auto result = test::run_privprobe({"profiles", "--seed", "2", "--out", u2.string(), "--exclude", u1.string(),
                                           "--match", u1.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto a = load_profiles(u1).profiles;
  const auto b = load_profiles(u2).profiles;
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(username_length(a[i].username), username_length(b[i].username));
    for (const auto& p : a) {
      EXPECT_NE(username_key(p.username), username_key(b[i].username));
      EXPECT_NE(p.user_id, b[i].user_id);
    }
  }
  // --count that disagrees with the matched set is refused.
  const auto disagree = test::run_privprobe({"profiles", "--count", "3", "--out", (dir / "x.jsonl").string(),
                                             "--match", u1.string()});
  EXPECT_NE(disagree.exit_code, 0);
  EXPECT_TRUE(contains(disagree.output, "--count 3")) << disagree.output;
  EXPECT_FALSE(fs::exists(dir / "x.jsonl"));
}

TEST(CliProfiles, BadExcludeFilesFailNamingTheFile) {
  test::TempDir dir("cli-profiles-bad");
  const fs::path out = dir / "out.jsonl";
  struct Case {
    std::string name;
    std::string text;  // empty name: the file is not written at all
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"absent.jsonl", "", "absent.jsonl"},
      {"malformed.jsonl", "{\"username\": \"A B\", \n", "line 1"},
      {"missing_field.jsonl",
       "{\"username\": \"A B\", \"user_id\": 1234567890, \"gender\": \"Male\", \"age\": 30, \"capture_time\": "
       "\"2020-01-01 00:00:00\"}\n",
       "missing field 'capture_location'"},
      {"empty.jsonl", "\n", "no profiles"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path bad = dir / c.name;
    if (!c.text.empty()) test::write_text(bad, c.text);
    const auto result = test::run_privprobe({"profiles", "--count", "5", "--out", out.string(), "--exclude", bad.string()});
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_TRUE(contains(result.output, bad.string())) << result.output;
    EXPECT_TRUE(contains(result.output, c.fragment)) << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST(CliProfiles, BadFlagsFail) {
  test::TempDir dir("cli-profiles-flags");
  EXPECT_NE(test::run_privprobe({"profiles", "--count", "0", "--out", (dir / "a.jsonl").string()}).exit_code, 0);
  EXPECT_NE(test::run_privprobe({"profiles", "--count", "5"}).exit_code, 0);  // --out is required
  EXPECT_NE(test::run_privprobe({"profiles", "--count", "5", "--out", (dir / "b.jsonl").string(), "--id-prefix", "a b"})
                .exit_code,
            0);
  EXPECT_FALSE(fs::exists(dir / "a.jsonl"));
  EXPECT_FALSE(fs::exists(dir / "b.jsonl"));
}

}  // namespace
}  // namespace privprobe
