// Small helpers for writing the report's HTML by hand: escaping, base64 data URIs, number
// formats and tables. Every string that comes from the study folder goes through html_escape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privprobe {

// &, <, >, " and ' as entities; control characters other than tab and newline dropped.
std::string html_escape(std::string_view text);

// Standard base64 (RFC 4648) with padding.
std::string base64_encode(const std::uint8_t* data, std::size_t size);

// "data:<mime>;base64,..."
std::string data_uri(const std::string& mime, const std::vector<std::uint8_t>& bytes);

// Fixed-point with `decimals` digits ("0.583"), "–" when unset.
std::string format_number(std::optional<double> value, int decimals = 3);
// "0.583 [0.530, 0.630]", or the value alone when the interval is unset.
std::string format_interval(std::optional<double> value, std::optional<double> low, std::optional<double> high,
                            int decimals = 3);
// "yes" / "no" / "–".
std::string format_bool(std::optional<bool> value);

// A table built row by row; cells are escaped unless added with raw().
class HtmlTable {
 public:
  explicit HtmlTable(std::vector<std::string> header, std::string caption = {});
  HtmlTable& row();                           // starts a new row
  HtmlTable& cell(std::string_view text);     // escaped text
  HtmlTable& raw(std::string html);           // trusted markup
  bool empty() const { return rows_.empty(); }
  std::string str() const;

 private:
  std::vector<std::string> header_;
  std::string caption_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace privprobe
