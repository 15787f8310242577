// Loading and writing profile sets: the paper's format as it is, and every kind of bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "profiles/profile.h"
#include "profiles/profile_format.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace privprobe;

namespace {

// A line in the paper's format (no id, integer user_id, ", " and ": " separators).
std::string paper_line(const std::string& username, const std::string& user_id, const std::string& extra = {}) {
  return "{\"username\": \"" + username + "\", \"user_id\": " + user_id +
         ", \"gender\": \"Female\", \"age\": 30, \"capture_time\": \"2025-06-15 10:23:45\", "
         "\"capture_location\": \"Tokyo, Japan\"" + extra + "}";
}

// Runs fn, expecting exception E whose message contains every fragment.
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

bool has_warning_containing(const ProfileSet& set, const std::string& fragment) {
  for (const auto& w : set.warnings) {
    if (w.find(fragment) != std::string::npos) return true;
  }
  return false;
}

class ProfileLoad : public ::testing::Test {
 protected:
  test::TempDir dir{"profiles-io"};
  fs::path write(const std::string& text) {
    const fs::path path = dir / "set.jsonl";
    test::write_text(path, text);
    return path;
  }
  void expect_data_error(const std::string& line, std::initializer_list<std::string> fragments) {
    const fs::path path = write(paper_line("Ok Person", "1234567890") + "\n" + line + "\n");
    SCOPED_TRACE(line);
    expect_error<DataError>([&] { load_profiles(path); }, fragments);
  }
};

TEST_F(ProfileLoad, PaperFormatFixtureLoadsWithLineNumbersAsIds) {
  const fs::path path = write(paper_line("Carlos Diaz", "5374982160") + "\n" + paper_line("Sophia Chen", "8250947613") +
                              "\n\n" + paper_line("Kim Jisoo", "7568210945"));  // blank line, no final newline
  const ProfileSet set = load_profiles(path);
  ASSERT_EQ(set.profiles.size(), 3u);
  EXPECT_EQ(set.source, path);
  EXPECT_EQ(set.profiles[0].id, "1");
  EXPECT_EQ(set.profiles[1].id, "2");
  EXPECT_EQ(set.profiles[2].id, "4");  // the line number, not the position
  EXPECT_EQ(set.profiles[0].username, "Carlos Diaz");
  EXPECT_EQ(set.profiles[0].user_id, 5374982160LL);
  EXPECT_EQ(set.profiles[0].gender, "Female");
  EXPECT_EQ(set.profiles[0].age, 30);
  EXPECT_EQ(set.profiles[0].capture_time, "2025-06-15 10:23:45");
  EXPECT_EQ(set.profiles[0].capture_location, "Tokyo, Japan");
  EXPECT_TRUE(set.warnings.empty());
}

TEST_F(ProfileLoad, DuplicatesWithinAFileAreWarnings) {
  const fs::path path = write(paper_line("Zhang Wei", "1111111111") + "\n" + paper_line("Carlos Rodriguez", "1234567890") +
                              "\n" + paper_line("zhang wei", "2222222222") + "\n" +
                              paper_line("Carlos Rodriguez", "1234567890") + "\n");
  const ProfileSet set = load_profiles(path);
  EXPECT_EQ(set.profiles.size(), 4u);
  ASSERT_EQ(set.warnings.size(), 3u);
  EXPECT_TRUE(has_warning_containing(set, "username 'zhang wei' on line 3 repeats line 1"));
  EXPECT_TRUE(has_warning_containing(set, "username 'Carlos Rodriguez' on line 4 repeats line 2"));
  EXPECT_TRUE(has_warning_containing(set, "user_id 1234567890 on line 4 repeats line 2"));
  for (const auto& w : set.warnings) EXPECT_NE(w.find(path.string()), std::string::npos) << w;
}

TEST_F(ProfileLoad, ExplicitIdsAndStringUserIdsAndExtraFields) {
  const fs::path path = write(paper_line("A One", "\"5374982160\"", ", \"id\": \"u1_0001\"") + "\n" +
                              paper_line("B Two", "7", ", \"id\": 7, \"note\": [1, 2]") + "\n");
  const ProfileSet set = load_profiles(path);
  ASSERT_EQ(set.profiles.size(), 2u);
  EXPECT_EQ(set.profiles[0].id, "u1_0001");
  EXPECT_EQ(set.profiles[0].user_id, 5374982160LL);
  EXPECT_EQ(set.profiles[1].id, "7");
  EXPECT_EQ(set.profiles[1].user_id, 7);
}

TEST_F(ProfileLoad, DuplicateIdsAreAnError) {
  const fs::path path = write(paper_line("A One", "1", ", \"id\": \"x\"") + "\n" + paper_line("B Two", "2", ", \"id\": \"x\""));
  expect_error<DataError>([&] { load_profiles(path); }, {path.string(), "line 2", "duplicate id 'x'", "line 1"});
}

TEST_F(ProfileLoad, ExplicitIdMayCollideWithALineNumberId) {
  // Line 2 has no id, so it is "2"; line 1 claims "2" too.
  const fs::path path = write(paper_line("A One", "1", ", \"id\": \"2\"") + "\n" + paper_line("B Two", "2"));
  expect_error<DataError>([&] { load_profiles(path); }, {"line 2", "duplicate id '2'"});
}

TEST_F(ProfileLoad, EveryMissingFieldNamesFileLineAndField) {
  for (const std::string& field : kProfileFields) {
    nlohmann::json row = nlohmann::json::parse(paper_line("Some One", "2234567890"));
    row.erase(field);
    expect_data_error(row.dump(), {"set.jsonl", "line 2", "missing field '" + field + "'"});
  }
}

TEST_F(ProfileLoad, EveryWrongTypeNamesFileLineAndField) {
  for (const std::string& field : kProfileFields) {
    nlohmann::json row = nlohmann::json::parse(paper_line("Some One", "2234567890"));
    row[field] = field == "username" || field == "gender" || field == "capture_time" || field == "capture_location"
                     ? nlohmann::json(42)
                     : nlohmann::json(true);
    expect_data_error(row.dump(), {"set.jsonl", "line 2", "'" + field + "'"});
  }
}

TEST_F(ProfileLoad, BadUserIds) {
  expect_data_error(paper_line("X Y", "-5"), {"line 2", "'user_id' is negative"});
  expect_data_error(paper_line("X Y", "5374982160.0"), {"line 2", "'user_id' must be an integer"});
  expect_data_error(paper_line("X Y", "\"53749x2160\""), {"line 2", "'user_id'"});
  expect_data_error(paper_line("X Y", "\"\""), {"line 2", "'user_id'"});
  expect_data_error(paper_line("X Y", "\"0374982160\""), {"line 2", "leading zero"});
  expect_data_error(paper_line("X Y", "\"1234567890123456789\""), {"line 2", "'user_id'"});
  expect_data_error(paper_line("X Y", "18446744073709551615"), {"line 2", "'user_id' is too large"});
  expect_data_error(paper_line("X Y", "null"), {"line 2", "'user_id'"});
}

TEST_F(ProfileLoad, BadAges) {
  auto with_age = [](const std::string& age) {
    nlohmann::json row = nlohmann::json::parse(paper_line("X Y", "1"));
    row["age"] = nlohmann::json::parse(age);
    return row.dump();
  };
  expect_data_error(with_age("-1"), {"line 2", "'age' is -1"});
  expect_data_error(with_age("151"), {"line 2", "'age' is 151"});
  expect_data_error(with_age("30.5"), {"line 2", "'age' must be an integer"});
  expect_data_error(with_age("\"30\""), {"line 2", "'age' must be an integer"});
}

TEST_F(ProfileLoad, BadCaptureTimes) {
  for (const std::string time : {"2023-02-29 10:00:00", "2023-13-01 10:00:00", "2023-04-31 10:00:00",
                                 "2023-01-01T10:00:00", "2023-01-01 24:00:00", "2023-01-01 10:60:00",
                                 "2023-1-01 10:00:00", "2023-01-01 10:00:00 ", "yesterday", "2023-00-10 10:00:00"}) {
    nlohmann::json row = nlohmann::json::parse(paper_line("X Y", "1"));
    row["capture_time"] = time;
    expect_data_error(row.dump(), {"line 2", "'capture_time'", "YYYY-MM-DD hh:mm:ss"});
  }
}

TEST_F(ProfileLoad, EmptyOrControlCharacterText) {
  nlohmann::json row = nlohmann::json::parse(paper_line("X Y", "1"));
  row["username"] = "";
  expect_data_error(row.dump(), {"line 2", "'username' is empty"});
  row["username"] = "Two\nLines";
  expect_data_error(row.dump(), {"line 2", "'username' contains a control character"});
  row["username"] = "X Y";
  row["capture_location"] = "";
  expect_data_error(row.dump(), {"line 2", "'capture_location' is empty"});
  row["capture_location"] = "Tokyo, Japan";
  row["id"] = "";
  expect_data_error(row.dump(), {"line 2", "'id' is empty"});
  row["id"] = 1.5;
  expect_data_error(row.dump(), {"line 2", "'id' must be a string or an integer"});
}

TEST_F(ProfileLoad, NonObjectLines) {
  expect_data_error("[1, 2, 3]", {"line 2", "expected a JSON object"});
  expect_data_error("\"just a string\"", {"line 2", "expected a JSON object"});
  expect_data_error("42", {"line 2", "expected a JSON object"});
}

TEST_F(ProfileLoad, MalformedJsonIsAFormatErrorWithLine) {
  const fs::path path = write(paper_line("A B", "1") + "\n" + "{\"username\": \"Trunc" + "\n");
  expect_error<FormatError>([&] { load_profiles(path); }, {path.string(), "line 2"});
}

TEST_F(ProfileLoad, EmptyFilesAreDataErrors) {
  expect_error<DataError>([&] { load_profiles(write("")); }, {"set.jsonl", "no profiles"});
  expect_error<DataError>([&] { load_profiles(write("\n  \n\t\n")); }, {"set.jsonl", "no profiles"});
}

TEST_F(ProfileLoad, MissingFileIsAnIoError) {
  expect_error<IoError>([&] { load_profiles(dir / "absent.jsonl"); }, {"absent.jsonl"});
}

TEST_F(ProfileLoad, WriteThenLoadRoundTripsInFixedKeyOrder) {
  std::vector<Profile> profiles = {
      {"p0001", "Kim Jisoo", 7568210945LL, "Female", 28, "2023-01-25 08:30:50", "Seoul, South Korea"},
      {"p0002", "Liam O'Brien", 9372058641LL, "Non-binary", 80, "2024-02-29 23:59:59", "Dublin, Ireland"}};
  const fs::path path = dir / "out" / "written.jsonl";
  write_profiles(path, profiles);
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first,
            "{\"id\":\"p0001\",\"username\":\"Kim Jisoo\",\"user_id\":7568210945,\"gender\":\"Female\",\"age\":28,"
            "\"capture_time\":\"2023-01-25 08:30:50\",\"capture_location\":\"Seoul, South Korea\"}");
  const ProfileSet set = load_profiles(path);
  ASSERT_EQ(set.profiles.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(set.profiles[i].id, profiles[i].id);
    EXPECT_EQ(set.profiles[i].username, profiles[i].username);
    EXPECT_EQ(set.profiles[i].user_id, profiles[i].user_id);
    EXPECT_EQ(set.profiles[i].gender, profiles[i].gender);
    EXPECT_EQ(set.profiles[i].age, profiles[i].age);
    EXPECT_EQ(set.profiles[i].capture_time, profiles[i].capture_time);
    EXPECT_EQ(set.profiles[i].capture_location, profiles[i].capture_location);
  }
}

TEST(ProfileField, DrawnTextOfEachField) {
  const Profile p{"p0001", "Kim Jisoo", 7568210945LL, "Female", 28, "2023-01-25 08:30:50", "Seoul, South Korea"};
  EXPECT_EQ(p.field("username"), "Kim Jisoo");
  EXPECT_EQ(p.field("user_id"), "7568210945");
  EXPECT_EQ(p.field("gender"), "Female");
  EXPECT_EQ(p.field("age"), "28");
  EXPECT_EQ(p.field("capture_time"), "2023-01-25 08:30:50");
  EXPECT_EQ(p.field("capture_location"), "Seoul, South Korea");
  expect_error<ConfigError>([&] { p.field("email"); }, {"email", "unknown field"});
}

TEST(PaperFiles, Privacy1LoadsCleanly) {
  const fs::path path = test::shared_data("privacy1.jsonl");
  if (path.empty()) GTEST_SKIP() << "../shared/data/privacy1.jsonl not present";
  const ProfileSet set = load_profiles(path);
  ASSERT_EQ(set.profiles.size(), 20u);
  EXPECT_TRUE(set.warnings.empty());
  EXPECT_EQ(set.profiles[0].id, "1");
  EXPECT_EQ(set.profiles[19].id, "20");
  EXPECT_EQ(set.profiles[0].username, "Carlos Diaz");
  EXPECT_EQ(set.profiles[0].user_id, 5374982160LL);
}

TEST(PaperFiles, Privacy2LoadsWithItsThreeDuplicatesAsWarnings) {
  const fs::path path = test::shared_data("privacy2.jsonl");
  if (path.empty()) GTEST_SKIP() << "../shared/data/privacy2.jsonl not present";
  const ProfileSet set = load_profiles(path);
  ASSERT_EQ(set.profiles.size(), 20u);  // the last line has no final newline
  ASSERT_EQ(set.warnings.size(), 3u);
  EXPECT_TRUE(has_warning_containing(set, "username 'Zhang Wei'"));
  EXPECT_TRUE(has_warning_containing(set, "username 'Carlos Rodriguez'"));
  EXPECT_TRUE(has_warning_containing(set, "user_id 1234567890"));
  EXPECT_EQ(set.profiles[3].gender, "Other");  // genders outside our three are read as they are
}

TEST(CaptureTime, ValidatesRealCalendarDates) {
  EXPECT_TRUE(is_valid_capture_time("2024-02-29 12:00:00"));
  EXPECT_TRUE(is_valid_capture_time("2000-02-29 00:00:00"));
  EXPECT_FALSE(is_valid_capture_time("1900-02-29 00:00:00"));
  EXPECT_FALSE(is_valid_capture_time("2023-02-29 12:00:00"));
  EXPECT_TRUE(is_valid_capture_time("2025-12-31 23:59:59"));
  EXPECT_FALSE(is_valid_capture_time("2025-12-32 00:00:00"));
  EXPECT_FALSE(is_valid_capture_time(""));
}

TEST(CaptureTime, FormatRoundTripsEveryDayOfTheRange) {
  EXPECT_EQ(format_capture_time(0), "1970-01-01 00:00:00");
  EXPECT_EQ(format_capture_time(capture_time_seconds(2024, 2, 29, 13, 5, 9)), "2024-02-29 13:05:09");
  const std::int64_t first = capture_time_seconds(2019, 1, 1);
  const std::int64_t last = capture_time_seconds(2025, 12, 31, 23, 59, 59);
  std::string previous;
  int days = 0;
  for (std::int64_t t = first; t <= last; t += 86400 - 1) {  // drifts through every second of the day
    const std::string text = format_capture_time(t);
    ASSERT_TRUE(is_valid_capture_time(text)) << text;
    ASSERT_LT(previous, text);
    previous = text;
    ++days;
  }
  EXPECT_GE(days, 2556);  // 7 years, two of them leap
}

TEST(Username, KeyAndLength) {
  EXPECT_EQ(username_key("Kim JISOO"), username_key("kim jisoo"));
  EXPECT_EQ(username_length("Kim Jisoo"), 9u);
  EXPECT_EQ(username_length("Fran\xc3\xa7ois"), 8u);  // UTF-8 counts characters, not bytes
}

}  // namespace
