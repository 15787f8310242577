// One error hierarchy for the whole project. Messages are one line: what failed, where
// (file, line, tensor, layer), and a hint when there is one. `main` catches Error, prints
// what() and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace privprobe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // Exit status the CLI returns for this kind of error.
  virtual int exit_code() const { return 1; }
};

// A file could not be read, written, renamed or found.
class IoError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 3; }
};

// A file was read but its content is malformed (JSON, image, safetensors, tokenizer...).
class FormatError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 4; }
};

// A flag, config key or combination of them is invalid.
class ConfigError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

// Well-formed input whose content is unusable (a missing field, a duplicate id, one class only).
class DataError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 5; }
};

// Builds "<where>: <what>" or "<where>: <what> (hint: <hint>)".
std::string error_message(const std::string& where, const std::string& what,
                          const std::string& hint = {});

}  // namespace privprobe
