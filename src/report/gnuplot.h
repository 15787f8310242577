// Drawing figures with gnuplot as a child process: each figure's data files and script go into a
// private temporary folder, gnuplot (run with --default-settings, so no ~/.gnuplot changes the
// output) writes the PNG (pngcairo) and the SVG there, and the caller gets both files' bytes.
// The program is `gnuplot` from PATH, or the one PRIVPROBE_GNUPLOT names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace privprobe {

struct GnuplotFigure {
  std::string name;  // file stem: figures/<name>.png and .svg
  int width = 900;
  int height = 520;
  std::string body;  // gnuplot commands after the terminal is set: settings and one plot / multiplot
};

struct RenderedFigure {
  std::string name;
  std::vector<std::uint8_t> png;
  std::string svg;
};

class GnuplotSession {
 public:
  // Finds gnuplot (ConfigError when it is not installed) and makes the temporary folder (IoError).
  GnuplotSession();
  ~GnuplotSession();
  GnuplotSession(const GnuplotSession&) = delete;
  GnuplotSession& operator=(const GnuplotSession&) = delete;

  // Writes a data file for the figures to read; returns its name quoted for a gnuplot script.
  std::string data_file(const std::string& name, const std::string& contents);

  // Runs gnuplot on the figure's script. Throws IoError naming gnuplot and the figure when it
  // exits non-zero (with the last line it printed) or leaves no output.
  RenderedFigure render(const GnuplotFigure& figure);

 private:
  std::filesystem::path program_;
  std::filesystem::path dir_;
};

// A string as a single-quoted gnuplot literal. Characters gnuplot might interpret (backquotes,
// '@' macros, control characters) are replaced by '?', so names from a study folder can be titles.
std::string gnuplot_quote(const std::string& text);

// A number for a data file or script, with 7 significant digits ("0.5", "1e-07"); "?" (the
// missing value the scripts declare with `set datafile missing '?'`) when unset or not finite.
std::string gnuplot_number(std::optional<double> value);

}  // namespace privprobe
