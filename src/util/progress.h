// A progress bar with rate and ETA on stderr. On a terminal it redraws one line; otherwise
// (logs, CI) it prints a plain line at most every few seconds and at the end, so logs stay short.
// Thread-safe: workers may call tick() concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace privprobe {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void tick(std::uint64_t n = 1);
  void set(std::uint64_t done);
  // Extra text after the bar (e.g. "loss 2.31").
  void set_note(std::string note);
  void finish();

  // Formats seconds as "1h02m", "3m05s" or "12s".
  static std::string format_duration(double seconds);

 private:
  void draw_locked(bool force);

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::string note_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

// Whether progress output is wanted at all (false when PRIVPROBE_QUIET is set).
bool progress_enabled_by_default();

}  // namespace privprobe
