// The tables the profile generator draws from: given and family names of many cultures, and real
// "City, Country" pairs. Names are ASCII transliterations (no diacritics), so any font can draw
// them and a username's character count is its byte count.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace privprobe {

struct NameCulture {
  std::string name;           // e.g. "Korean"
  bool family_first = false;  // customary order puts the family name first ("Kim Jisoo")
  std::vector<std::string> female_given;
  std::vector<std::string> male_given;
  std::vector<std::string> family;  // masculine forms where the language inflects surnames
  // Feminine forms index-aligned with `family` (Petrov -> Petrova), or empty when surnames do not
  // inflect.
  std::vector<std::string> family_female;

  // The full name in the culture's customary order. female selects the surname form.
  std::string full_name(const std::string& given, std::size_t family_index, bool female) const;
};

const std::vector<NameCulture>& name_cultures();

struct City {
  std::string city;
  std::string country;
  std::string continent;  // Africa, Asia, Europe, North America, South America, Oceania

  std::string location() const { return city + ", " + country; }
};

const std::vector<City>& city_table();

}  // namespace privprobe
