// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/size.h"

#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <utility>

namespace lightloop::runtime {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool UnitMultiplier(std::string_view unit, double* mult) {
  static constexpr std::array<std::pair<std::string_view, double>, 17> kUnits{{
      {"", 1.0},
      {"b", 1.0},
      {"k", 0x1p10},
      {"ki", 0x1p10},
      {"kib", 0x1p10},
      {"kb", 1e3},
      {"m", 0x1p20},
      {"mi", 0x1p20},
      {"mib", 0x1p20},
      {"mb", 1e6},
      {"g", 0x1p30},
      {"gi", 0x1p30},
      {"gib", 0x1p30},
      {"gb", 1e9},
      {"t", 0x1p40},
      {"tib", 0x1p40},
      {"tb", 1e12},
  }};
  for (const auto& [name, value] : kUnits) {
    if (unit == name) {
      *mult = value;
      return true;
    }
  }
  return false;
}

Status BadSize(std::string_view text, std::string_view why) {
  return InvalidArgument("'" + std::string(text) + "' is not a size (" + std::string(why) +
                         "; expected e.g. 4096, 64K, 64KiB, 2GiB, 1.5MB)");
}

}  // namespace

StatusOr<uint64_t> ParseSize(std::string_view text) {
  std::string s = Lower(text);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  size_t start = i;
  bool seen_digit = false, seen_dot = false;
  for (; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      seen_digit = true;
    } else if (s[i] == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
  }
  if (!seen_digit) return BadSize(text, "no number");
  double number = std::stod(s.substr(start, i - start));
  size_t unit_start = i;
  while (unit_start < s.size() && s[unit_start] == ' ') ++unit_start;
  double mult = 0;
  if (!UnitMultiplier(std::string_view(s).substr(unit_start), &mult)) {
    std::string unit(text.substr(unit_start, s.size() - unit_start));
    return BadSize(text, "unknown unit '" + unit + "'");
  }
  double bytes = number * mult;
  if (bytes >= 0x1p64) return BadSize(text, "too large");
  if (bytes != std::floor(bytes)) return BadSize(text, "not a whole number of bytes");
  return static_cast<uint64_t>(bytes);
}

std::vector<std::string_view> SplitCommas(std::string_view text) {
  std::vector<std::string_view> pieces;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    pieces.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return pieces;
}

StatusOr<std::vector<uint64_t>> ParseSizeList(std::string_view text) {
  std::vector<uint64_t> sizes;
  for (std::string_view piece : SplitCommas(text)) {
    LL_ASSIGN_OR_RETURN(uint64_t size, ParseSize(piece));
    sizes.push_back(size);
  }
  return sizes;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::array<std::string_view, 5> kNames{"B", "KiB", "MiB", "GiB", "TiB"};
  size_t unit = 0;
  while (unit + 1 < kNames.size() && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + std::string(kNames[unit]);
}

}  // namespace lightloop::runtime
