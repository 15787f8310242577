// Field formats shared by the profile reader and generator: capture times, username comparison
// and length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace privprobe {

// "YYYY-MM-DD hh:mm:ss" with a real calendar date (leap years included) and a valid time of day.
bool is_valid_capture_time(const std::string& text);

// Seconds since 1970-01-01 00:00:00 (proleptic Gregorian, no time zone) <-> "YYYY-MM-DD hh:mm:ss".
std::string format_capture_time(std::int64_t seconds);
std::int64_t capture_time_seconds(int year, int month, int day, int hour = 0, int minute = 0, int second = 0);

// Usernames compare case-insensitively (ASCII): "Kim Jisoo" and "kim jisoo" are the same person.
std::string username_key(const std::string& username);

// Number of characters (UTF-8 code points) of a username: what its watermark line will draw.
std::size_t username_length(const std::string& username);

}  // namespace privprobe
