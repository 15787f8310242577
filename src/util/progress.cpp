#include "util/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace privprobe {

bool progress_enabled_by_default() { return std::getenv("PRIVPROBE_QUIET") == nullptr; }

Progress::Progress(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && progress_enabled_by_default()),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::tick(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  draw_locked(false);
}

void Progress::set(std::uint64_t done) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = done;
  draw_locked(false);
}

void Progress::set_note(std::string note) {
  std::lock_guard<std::mutex> lock(mutex_);
  note_ = std::move(note);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw_locked(true);
  if (enabled_ && tty_) std::fputc('\n', stderr);
}

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

void Progress::draw_locked(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const double min_interval = tty_ ? 0.1 : 5.0;
  if (!force && since_draw < min_interval) return;
  last_draw_ = now;

  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = (rate > 0 && total_ >= done_) ? static_cast<double>(total_ - done_) / rate : -1;

  char line[512];
  if (tty_) {
    constexpr int kWidth = 28;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(std::max(0, std::min(kWidth, filled))), '#');
    bar.resize(kWidth, '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %llu/%llu %.1f/s ETA %s %s\033[K", label_.c_str(), bar.c_str(),
                  static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_), rate,
                  format_duration(eta).c_str(), note_.c_str());
  } else {
    std::snprintf(line, sizeof line, "%s: %llu/%llu (%.0f%%) %.1f/s elapsed %s ETA %s %s\n", label_.c_str(),
                  static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_),
                  100.0 * fraction, rate, format_duration(elapsed).c_str(), format_duration(eta).c_str(),
                  note_.c_str());
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace privprobe
