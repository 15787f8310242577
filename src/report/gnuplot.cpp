#include "report/gnuplot.h"

#include <stdlib.h>  // mkdtemp

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "text/subprocess.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {

namespace fs = std::filesystem;

namespace {

// The last non-empty line of gnuplot's output: its error message.
std::string last_line(const std::string& text) {
  std::size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return {};
  const std::size_t start = text.find_last_of('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

std::string terminal_block(const std::string& terminal, const fs::path& output, const GnuplotFigure& figure) {
  const std::string size = std::to_string(figure.width) + "," + std::to_string(figure.height);
  return "reset\n"
         "set terminal " + terminal + " size " + size + " font 'DejaVu Sans,10' background '#ffffff' noenhanced\n"
         "set output " + gnuplot_quote(output.string()) + "\n"
         "set datafile missing '?'\n" + figure.body + "\nunset multiplot\nset output\n";
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\'') {
      quoted += "''";  // the only escape inside single quotes
    } else if (u < 0x20 || u == 0x7f || c == '`' || c == '@') {
      quoted += '?';
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string gnuplot_number(std::optional<double> value) {
  if (!value || !std::isfinite(*value)) return "?";
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", *value);
  return text;
}

GnuplotSession::GnuplotSession() {
  const char* override_program = std::getenv("PRIVPROBE_GNUPLOT");
  const std::string name = override_program && *override_program ? override_program : "gnuplot";
  program_ = find_program(name);
  if (program_.empty()) {
    throw ConfigError(error_message(name, "gnuplot is not installed (not found in PATH)",
                                    "install it: apt-get install gnuplot-nox"));
  }
  std::string pattern = (fs::temp_directory_path() / "privprobe-gnuplot-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    throw IoError(error_message(pattern, "cannot create a temporary folder for gnuplot"));
  }
  dir_ = pattern;
}

GnuplotSession::~GnuplotSession() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string GnuplotSession::data_file(const std::string& name, const std::string& contents) {
  const fs::path path = dir_ / (name + ".dat");
  write_file_atomic(path, contents);
  return gnuplot_quote(path.string());
}

RenderedFigure GnuplotSession::render(const GnuplotFigure& figure) {
  const fs::path png = dir_ / (figure.name + ".png");
  const fs::path svg = dir_ / (figure.name + ".svg");
  const fs::path script = dir_ / (figure.name + ".gp");
  const fs::path log = dir_ / (figure.name + ".log");
  std::error_code ec;
  fs::remove(png, ec);
  fs::remove(svg, ec);
  write_file_atomic(script, terminal_block("pngcairo", png, figure) + terminal_block("svg", svg, figure));

  ProcessSpec spec;
  spec.argv = {program_.string(), "--default-settings", script.string()};
  spec.working_dir = dir_;
  spec.stdout_file = log;
  spec.stderr_file = log;
  const int status = run_process(spec);
  const std::string where = "gnuplot (" + program_.string() + "), figure " + figure.name;
  if (status != 0) {
    std::string said;
    try {
      said = last_line(read_file(log));
    } catch (const IoError&) {
    }
    throw IoError(error_message(where, "exited with status " + std::to_string(status) + (said.empty() ? "" : ": " + said)));
  }
  RenderedFigure rendered;
  rendered.name = figure.name;
  if (!fs::is_regular_file(png, ec) || !fs::is_regular_file(svg, ec)) {
    throw IoError(error_message(where, "wrote no PNG or SVG"));
  }
  rendered.png = read_file_bytes(png);
  rendered.svg = read_file(svg);
  if (rendered.png.empty() || rendered.svg.find("<svg") == std::string::npos) {
    throw IoError(error_message(where, "wrote an empty PNG or SVG"));
  }
  return rendered;
}

}  // namespace privprobe
