// A complete profile for tests that only care about its id and username.
#pragma once

#include <cstdint>
#include <string>

#include "profiles/profile.h"

namespace privprobe::test {

inline Profile test_profile(const std::string& id, const std::string& username, std::int64_t user_id) {
  Profile p;
  p.id = id;
  p.username = username;
  p.user_id = user_id;
  p.gender = "female";
  p.age = 30;
  p.capture_time = "2020-01-01 00:00:00";
  p.capture_location = "Paris, France";
  return p;
}

}  // namespace privprobe::test
