#include "report/html.h"

#include <cmath>
#include <cstdio>

namespace privprobe {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') break;
        if (c == 0x7f) break;
        out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::uint8_t* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < size) {
    const bool two = i + 1 < size;
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (two ? std::uint32_t{data[i + 1]} << 8 : 0u);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string data_uri(const std::string& mime, const std::vector<std::uint8_t>& bytes) {
  return "data:" + mime + ";base64," + base64_encode(bytes.data(), bytes.size());
}

std::string format_number(std::optional<double> value, int decimals) {
  if (!value || !std::isfinite(*value)) return "\u2013";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, *value);
  if (std::string(text).find_first_not_of("-0.") == std::string::npos) {
    std::snprintf(text, sizeof text, "%.*f", decimals, 0.0);  // no "-0.000"
  }
  return text;
}

std::string format_interval(std::optional<double> value, std::optional<double> low, std::optional<double> high,
                            int decimals) {
  std::string text = format_number(value, decimals);
  if (value && low && high) text += " [" + format_number(low, decimals) + ", " + format_number(high, decimals) + "]";
  return text;
}

std::string format_bool(std::optional<bool> value) {
  if (!value) return "\u2013";
  return *value ? "yes" : "no";
}

HtmlTable::HtmlTable(std::vector<std::string> header, std::string caption)
    : header_(std::move(header)), caption_(std::move(caption)) {}

HtmlTable& HtmlTable::row() {
  rows_.emplace_back();
  return *this;
}

HtmlTable& HtmlTable::cell(std::string_view text) { return raw(html_escape(text)); }

HtmlTable& HtmlTable::raw(std::string html) {
  if (rows_.empty()) rows_.emplace_back();
  rows_.back().push_back(std::move(html));
  return *this;
}

std::string HtmlTable::str() const {
  std::string out = "<table>\n";
  if (!caption_.empty()) out += "<caption>" + html_escape(caption_) + "</caption>\n";
  out += "<thead><tr>";
  for (const std::string& h : header_) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& r : rows_) {
    out += "<tr>";
    for (const std::string& c : r) out += "<td>" + c + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace privprobe
