#include "util/error.h"

namespace privprobe {

std::string error_message(const std::string& where, const std::string& what,
                          const std::string& hint) {
  std::string message = where.empty() ? what : where + ": " + what;
  if (!hint.empty()) message += " (hint: " + hint + ")";
  // Errors are one line: embedded newlines from libraries would break that contract.
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace privprobe
